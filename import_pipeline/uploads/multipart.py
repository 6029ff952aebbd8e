"""A `multipart/form-data` body read as it arrives: its file part streamed, its fields kept.

python-multipart's streaming parser does the parsing; this module decides where each part
goes. The one file part (`file`, or any part with a file name) is handed to a callback
piece by piece, never held whole; other parts are small form fields, kept as text, with
their size and number bounded so that a hostile form cannot fill memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from import_pipeline.uploads.receiving import UploadRefused

#: Largest form field value, and most fields, a form may carry.
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a `multipart/form-data` content type; None for any other type."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return options.get(b"boundary") or None


class MultipartForm:
    """Feed a multipart body with `write`; the file part's bytes go to `open_file(name)`'s
    returned writer as they come, fields collect in `fields`.

    `UploadRefused` for a second file part, a field too long, too many fields, or a part
    without a name.
    """

    def __init__(self, boundary: bytes, open_file: Callable[[str], Callable[[bytes], Any]]) -> None:
        self.fields: dict[str, str] = {}
        self.file_name: str | None = None
        self._open_file = open_file
        self._write_file: Callable[[bytes], Any] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part_name: str | None = None
        self._part_is_file = False
        self._field_value = bytearray()
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin, "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value, "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished, "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end})

    def write(self, data: bytes) -> None:
        """Parse the next piece of the body."""
        self._parser.write(data)

    def finish(self) -> None:
        """The body ended: `UploadRefused` if it held no file part."""
        self._parser.finalize()
        if self.file_name is None:
            raise UploadRefused("file", "the form holds no file part (send the file as a part named 'file')")

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._part_name, self._part_is_file = None, False
        self._field_value.clear()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if name is None:
            raise UploadRefused("form", "a form part has no name")
        self._part_name = name.decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None or self._part_name == "file":
            if self.file_name is not None:
                raise UploadRefused("file", "the form holds more than one file; send one file per request")
            self._part_is_file = True
            self.file_name = (filename or b"").decode("utf-8", "replace")
            self._write_file = self._open_file(self.file_name)
        elif len(self.fields) >= MAX_FIELDS:
            raise UploadRefused("form", f"the form holds more than {MAX_FIELDS} fields")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part_is_file:
            assert self._write_file is not None
            self._write_file(data[start:end])
            return
        self._field_value += data[start:end]
        if len(self._field_value) > MAX_FIELD_BYTES:
            raise UploadRefused(self._part_name or "form", f"field {self._part_name!r} is longer than "
                                                            f"{MAX_FIELD_BYTES:,} bytes")

    def _on_part_end(self) -> None:
        if not self._part_is_file and self._part_name is not None:
            try:
                self.fields[self._part_name] = self._field_value.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadRefused(self._part_name, f"field {self._part_name!r} is not UTF-8 text") from None

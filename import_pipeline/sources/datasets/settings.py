"""What an import of a tabular file may be told (by a sidecar `<file>.json`, or by a caller),
validated by one schema.

`ImportSettings` is strict: a value of the wrong type is refused rather than converted
(`"has_header": "no"` is an error, not True), unknown keys are refused, names and texts may
not hold NUL or other control characters, an encoding must be one Python knows.
`settings_error` turns a validation failure into one line that names the field.
"""

from __future__ import annotations

import codecs
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

MODES = ("replace", "append")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Ref names as git allows most of them: no spaces or control characters, no `..`, no `~^:?*[\`,
#: not starting or ending with `/` or `.`.
_REF = re.compile(r"(?!.*\.\.)(?!.*//)(?![/.])[^\x00-\x20\x7f~^:?*\[\\]+(?<![/.])")


def _no_control(text: str) -> str:
    if _CONTROL.search(text.replace("\n", "").replace("\t", "").replace("\r", "")):
        raise ValueError("holds a NUL or another control character")
    return text


def _name(text: str) -> str:
    if not text.strip():
        raise ValueError("is empty")
    if _CONTROL.search(text):
        raise ValueError("holds a NUL or another control character")
    return text


def _ref(text: str) -> str:
    if not _REF.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid ref name (like main or feature/q1)")
    return text


def _encoding(text: str) -> str:
    try:
        codecs.lookup(text)
    except LookupError:
        raise ValueError(f"unknown encoding {text!r}") from None
    return text


Name = Annotated[str, Field(max_length=255), AfterValidator(_name)]
RefName = Annotated[str, Field(max_length=200), AfterValidator(_ref)]
Text = Annotated[str, Field(max_length=10_000), AfterValidator(_no_control)]


class ImportSettings(BaseModel):
    """Where a file's rows go and how it is read. Every field but `dataset` is optional.

    - `dataset`: the dataset name (default: the file name without suffix);
    - `ref`: the ref the commit moves (default `main`); a ref that does not exist yet starts
      from `base_ref` (default `main`), as a git branch would;
    - `mode`: `replace` (the commit holds exactly the file's rows) or `append`;
    - `message`, `author`, `description`: free text recorded with the commit and dataset;
    - `encoding`, `has_header`: read the file so instead of detecting it;
    - `allow_empty`: accept a file with no rows (refused by default: an empty commit would
      make the dataset empty).
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    dataset: Name
    ref: RefName = "main"
    base_ref: RefName | None = None
    mode: Literal["replace", "append"] = "replace"
    message: Text | None = None
    author: Text | None = None
    description: Text | None = None
    encoding: Annotated[str, AfterValidator(_encoding)] | None = None
    has_header: bool | None = None
    allow_empty: bool = False


SETTINGS_KEYS = tuple(ImportSettings.model_fields)


def settings_error(exc: ValidationError) -> str:
    """One line that names each refused field and why: `field 'encoding': unknown encoding 'klingon'`."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown key; known keys: {', '.join(SETTINGS_KEYS)}"
        parts.append(f"field {field!r}: {message}")
    return "; ".join(parts)


def validated_settings(values: dict[str, Any]) -> ImportSettings:
    """`values` as `ImportSettings`; ValueError with `settings_error`'s line when they are refused."""
    try:
        return ImportSettings.model_validate(values)
    except ValidationError as exc:
        raise ValueError(settings_error(exc)) from None

"""An upload's form or query fields as import settings, validated as a sidecar is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from import_pipeline.sources.datasets.settings import ImportSettings, settings_error
from import_pipeline.uploads.receiving import UploadRefused

#: The settings that are booleans in a sidecar, written `true` / `false` in a form or query.
BOOLEAN_KEYS = tuple(k for k, f in ImportSettings.model_fields.items() if f.annotation in (bool, bool | None))
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def upload_settings(values: Mapping[str, str], file_name: str) -> dict[str, Any]:
    """The sidecar an upload's `values` (text, from a form or a query) stand for.

    Booleans are written `true`/`false` (`1`/`0`, `yes`/`no`); everything else is checked by
    `ImportSettings` exactly as a sidecar's values are, with the dataset defaulting to the
    file name's stem. `UploadRefused` naming the first refused field, with every reason.
    """
    settings: dict[str, Any] = {}
    for key, text in values.items():
        if key in BOOLEAN_KEYS:
            lowered = text.strip().lower()
            if lowered not in _TRUE + _FALSE:
                raise UploadRefused(key, f"field {key!r}: {text[:50]!r} is not true or false")
            settings[key] = lowered in _TRUE
        else:
            settings[key] = text
    try:
        ImportSettings.model_validate({"dataset": file_name.rsplit(".", 1)[0], **settings})
    except ValidationError as exc:
        errors = exc.errors()
        field = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else "settings"
        raise UploadRefused(field, settings_error(exc)) from None
    return settings

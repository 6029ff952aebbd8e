"""What the landing-folder sensors share: when a dropped file is complete and not yet imported."""

import json
import os
from pathlib import Path

from import_pipeline.postgres.connect import home_dir


def landing_folder(configured: str | None, env: str, family: str) -> Path:
    """A family's landing folder: `configured`, else the variable `env`, else
    `<IMPORT_PIPELINE_HOME>/landing/<family>`. It may not exist yet."""
    folder = configured or os.environ.get(env)
    return Path(folder) if folder else home_dir() / "landing" / family


class LandingCursor:
    """A sensor cursor remembering each file's (mtime, size) as last seen and as last requested.

    A file is ready when its signature is the same as on the previous tick (it is no longer
    being written) and differs from the one last requested (this version was not imported).
    """

    def __init__(self, cursor: str | None) -> None:
        state = json.loads(cursor) if cursor else {}
        self.seen: dict[str, list[int]] = state.get("seen", {})
        self.requested: dict[str, list[int]] = state.get("requested", {})

    def observe(self, path: Path) -> list[int] | None:
        """Record `path`'s signature; return it when the file is ready to import, else None."""
        stat = path.stat()
        signature = [stat.st_mtime_ns, stat.st_size]
        ready = self.seen.get(path.name) == signature and self.requested.get(path.name) != signature
        self.seen[path.name] = signature
        return signature if ready else None

    def pending(self, name: str) -> bool:
        """Whether file `name` was seen in a version not requested yet."""
        return name in self.seen and self.requested.get(name) != self.seen[name]

    def mark_requested(self, name: str, signature: list[int]) -> None:
        self.requested[name] = signature

    def run_key(self, name: str, signature: list[int]) -> str:
        """A run key naming this version of the file."""
        return f"{name}:{signature[0]}:{signature[1]}"

    def to_json(self) -> str:
        return json.dumps({"seen": self.seen, "requested": self.requested})

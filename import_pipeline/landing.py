"""The one place where a name from outside (a partition key, a sidecar, a sensor, an upload)
becomes a path in a landing folder.

Every family resolves its landed files through `landed_file`, so the same rules hold for
all of them: the name is a plain file name (no folder part, no `..`, no NUL, not absolute),
its suffix is one the family reads, and the file it names, after following symlinks, is a
regular file inside the landing folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

#: Longest file name (in bytes) most file systems accept.
MAX_NAME_BYTES = 255


class LandingPathError(ValueError):
    """A name that does not resolve to a regular file inside its landing folder."""


def landed_name_problem(name: str, suffixes: Iterable[str] | None = None) -> str | None:
    """Why `name` cannot be a file name in a landing folder, or None when it can.

    Checks the name alone (no file system access): not empty, no path separator, not `.`
    or `..`, no NUL or other control character, at most 255 bytes, and, when `suffixes`
    are given, one of them (compared case-insensitively)."""
    if not name or name in (".", ".."):
        return f"{name!r} is not a file name"
    if "/" in name or "\\" in name or os.sep in name or (os.altsep and os.altsep in name):
        return f"{name!r} has a folder part; only a plain file name in the landing folder is allowed"
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        return f"{name!r} holds a control character"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return f"{name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes"
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if not name.lower().endswith(allowed):
            return f"{name!r} does not end in one of {', '.join(allowed)}"
    return None


def landed_file(folder: Path, name: str, suffixes: Iterable[str] | None = None) -> Path:
    """The path of file `name` in landing folder `folder`, checked.

    Raises `LandingPathError` with one readable line when the name is not a plain file name
    with an allowed suffix (see `landed_name_problem`), when no such file exists, when it is
    not a regular file, or when it (or a symlink on the way) leads outside the folder.
    """
    problem = landed_name_problem(name, suffixes)
    if problem is not None:
        raise LandingPathError(problem)
    path = folder / name
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise LandingPathError(f"{path} does not exist") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission problem
        raise LandingPathError(f"{path} cannot be resolved: {exc}") from None
    if not real.is_relative_to(folder.resolve()):
        raise LandingPathError(f"{path} leads outside the landing folder {folder} (to {real})")
    if not real.is_file():
        raise LandingPathError(f"{path} is not a regular file")
    return path


def is_landed_file(folder: Path, name: str, suffixes: Iterable[str] | None = None) -> bool:
    """Whether `landed_file(folder, name, suffixes)` would accept `name`."""
    try:
        landed_file(folder, name, suffixes)
    except LandingPathError:
        return False
    return True

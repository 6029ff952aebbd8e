"""The guard that keeps an import from silently deleting most of a table."""

from __future__ import annotations

#: The largest share of the stored rows one import may delete unless told otherwise.
MAX_DELETE_SHARE = 0.10


class DeletionRefused(RuntimeError):
    """An import would delete more of the stored rows than allowed; nothing was changed."""


def check_deletion(source: str, what: str, deleting: int, stored: int, max_share: float, *, if_right: str) -> None:
    """Raise `DeletionRefused` when `deleting` is more than `max_share` of `stored` `what`; the
    message names `source`, the counts and how to allow it (`if_right`: when doing so is right)."""
    if stored and deleting > max_share * stored:
        raise DeletionRefused(
            f"{source} would delete {deleting:,} of the {stored:,} stored {what} ({deleting / stored:.0%}), "
            f"more than the allowed {max_share:.0%}; nothing was changed (allow it with max_delete_share, "
            f"e.g. 1.0, if {if_right})")

"""How a run tells its user about rejected records: a warning with the first few reasons."""

from collections.abc import Sequence
from logging import Logger

import dagster as dg

from import_pipeline.records import Reject

#: How many rejects a warning spells out.
SHOWN = 5


def warn_rejects(log: Logger | dg.DagsterLogManager, what: str, rejects: Sequence[Reject] | int,
                 first: Sequence[Reject] = ()) -> None:
    """Log at WARNING that `what` had rejects: their count and the first few with their position
    and reason (`rejects` may be the list, or a count with `first` the ones at hand). Nothing
    is logged when there are none."""
    count = rejects if isinstance(rejects, int) else len(rejects)
    shown = list(first if isinstance(rejects, int) else rejects)[:SHOWN]
    if not count:
        return
    lines = [f"{what}: {count:,} records rejected (see import_pipeline.rejects)"]
    for reject in shown:
        where = f"line {reject.line}" if reject.line is not None else f"byte {reject.offset}"
        lines.append(f"  {reject.source}, {where}: {reject.reason[:200]}")
    if count > len(shown):
        lines.append(f"  ... and {count - len(shown):,} more")
    log.warning("\n".join(lines))

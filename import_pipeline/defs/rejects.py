"""How a run tells its user about rejected records: a warning with the first few reasons."""

from collections.abc import Sequence
from logging import Logger

import dagster as dg

from import_pipeline.records import Reject
from import_pipeline.table_metadata import metadata_count

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


#: The share of a partition's records that may be rejected before its check fails.
DEFAULT_MAX_REJECT_SHARE = 0.01


class RejectsCheckConfig(dg.Config):
    """How many rejects a partition may have and still pass."""

    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE


def rejects_check(asset_key: dg.AssetKey, partitions_def: dg.PartitionsDefinition, *, records: tuple[str, ...],
                  rejects: str, blocking: bool) -> dg.AssetChecksDefinition:
    """A check of one partition of `asset_key`: its latest materialization's `rejects` are at
    most `max_reject_share` (run config; default 1%) of the records it stored (the sum of the
    metadata named by `records`) plus the rejects. A truncated or damaged file imports its good
    records, and this check fails loudly; `blocking` when what is derived from the asset must
    then wait (a summary), not when stopping it would leave the family half-written."""

    @dg.asset_check(asset=asset_key, name="rejects_under_ratio", blocking=blocking, partitions_def=partitions_def,
                    description=f"Rejected records are at most max_reject_share (default "
                                f"{DEFAULT_MAX_REJECT_SHARE:.0%}) of what the partition's file held")
    def check(context: dg.AssetCheckExecutionContext, config: RejectsCheckConfig) -> dg.AssetCheckResult:
        found = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[context.partition_key]), limit=1).records
        materialization = found[0].asset_materialization if found else None
        if materialization is None:
            return dg.AssetCheckResult(passed=False, description=f"{context.partition_key} was never materialized")
        metadata = materialization.metadata
        good = sum(metadata_count(metadata, name) for name in records)
        bad = metadata_count(metadata, rejects)
        share = bad / (good + bad) if good + bad else 0.0
        return dg.AssetCheckResult(
            passed=share <= config.max_reject_share,
            metadata={"records": good, "rejects": bad, "reject_share": round(share, 6),
                      "max_reject_share": config.max_reject_share},
            description=f"{bad:,} of {good + bad:,} records rejected ({share:.2%}); at most "
                        f"{config.max_reject_share:.2%} allowed")

    return check

"""gamedata assets: the dump phases of one dump kind (one pass), then perks and symbiants."""

import dagster as dg
from pydantic import Field

from import_pipeline.defs.gamedata.partitions import dump_kinds
from import_pipeline.defs.gamedata.resources import DUMP_FILES, PERKS_FILE, SYMBIANTS_FILE, GamedataFiles
from import_pipeline.defs.ownership import OWNERS
from import_pipeline.defs.rejects import warn_rejects
from import_pipeline.load.gamedata.dump import DumpImport, import_dump
from import_pipeline.load.gamedata.perks import import_perks
from import_pipeline.load.gamedata.symbiants import import_symbiants
from import_pipeline.postgres.constraints import ForeignKeyBlocked
from import_pipeline.postgres.guards import MAX_DELETE_SHARE, DeletionRefused
from import_pipeline.records import Progress
from import_pipeline.resources import PostgresResource
from import_pipeline.sources.gamedata.dump import DumpFormatError
from import_pipeline.sources.gamedata.perks import PerksFormatError
from import_pipeline.table_metadata import table_metadata

GROUP = "gamedata"
FAMILY_TAG = {"import_pipeline/family": "gamedata"}


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["gamedata", name])


#: Each phase asset, the tables it writes, and what its foreign keys point at.
PHASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "stat_values": (("stat_values",), ()),
    "criteria": (("criteria",), ()),
    "attack_defense": (("attack_defense", "attack_defense_attack", "attack_defense_defense"), ("stat_values",)),
    "animation_mesh": (("animation_mesh",), ("stat_values",)),
    "items": (("items",), ("attack_defense", "animation_mesh")),
    "item_stats": (("item_stats",), ("items", "stat_values")),
    "shop_hash": (("shop_hash", "item_shop_hash"), ("items",)),
    "actions": (("actions", "action_criteria"), ("items", "criteria")),
    "spells": (
        ("spell_data", "item_spell_data", "spells", "spell_data_spells", "spell_criteria"), ("items", "criteria"),
    ),
}


class DumpImportConfig(dg.Config):
    """Run configuration of a dump import."""

    max_delete_share: float = Field(
        default=MAX_DELETE_SHARE, ge=0.0, le=1.0,
        description="Largest share of the stored items (or nanos) this dump may delete; more is refused and "
                    "nothing changes. 1.0 allows a dump that really removes most items.")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key(phase),
            deps=[key(dep) for dep in deps],
            partitions_def=dump_kinds,
            group_name=GROUP,
            kinds={"postgres", "json"}, owners=OWNERS,
            description=f"gamedata.{', gamedata.'.join(tables)}, from the items.json or nanos.json dump",
        )
        for phase, (tables, deps) in PHASES.items()
    ],
    partitions_def=dump_kinds,
    can_subset=False,
    name="gamedata_dump",
    op_tags=FAMILY_TAG,
)
def gamedata_dump(context: dg.AssetExecutionContext, config: DumpImportConfig, postgres: PostgresResource,
                  gamedata_files: GamedataFiles):
    """Import one dump (partition `items` or `nanos`) in one pass: every phase's tables are
    written in the same transaction, so the phases materialize together."""
    kind = context.partition_key
    path = gamedata_files.path(DUMP_FILES[kind])

    def report(progress: Progress) -> None:
        context.log.info(progress.describe(kind))

    try:
        with postgres.connection() as conn:
            result = import_dump(conn, path, kind, reject_asset="gamedata/items", run_id=context.run.run_id,
                                 progress=report, max_delete_share=config.max_delete_share)
    except (DumpFormatError, ForeignKeyBlocked, DeletionRefused) as exc:
        raise dg.Failure(description=str(exc)) from None
    if result.restored.indexes or result.restored.foreign_keys:
        context.log.warning(result.restored.describe())
    context.log.info(_summary(result))
    warn_rejects(context.log, result.kind, result.rejects)
    with postgres.connection() as conn:
        catalogs = {phase: table_metadata(conn, f"gamedata.{tables[0]}") for phase, (tables, _) in PHASES.items()}
    for phase, (tables, _) in PHASES.items():
        yield dg.MaterializeResult(asset_key=key(phase),
                                   metadata={**_phase_metadata(result, phase, tables), **catalogs[phase]})


def _summary(result: DumpImport) -> str:
    kept = f", {result.items_kept_absent} absent items kept because of rejects" if result.items_kept_absent else ""
    return (
        f"{result.kind}: {result.items_new} new, {result.items_changed} changed, {result.items_unchanged} unchanged, "
        f"{result.items_removed} removed, {len(result.rejects)} rejected{kept} in {result.total_seconds:.1f} s"
    )


def _phase_metadata(result: DumpImport, phase: str, tables: tuple[str, ...]) -> dict:
    written = sum(result.rows_written.get(t, 0) for t in tables)
    metadata = {
        "dagster/table_name": f"gamedata.{tables[0]}",
        "rows_written": written,
        "rows_deleted": sum(result.rows_deleted.get(t, 0) for t in tables),
        "copy_seconds": round(sum(result.table_seconds.get(t, 0.0) for t in tables), 3),
        "source": result.source,
        "initial_load": result.initial_load,
    }
    if phase == "items":
        seconds = result.total_seconds
        metadata.update({
            "items_new": result.items_new,
            "items_changed": result.items_changed,
            "items_unchanged": result.items_unchanged,
            "items_removed": result.items_removed,
            "items_kept_absent": result.items_kept_absent,
            "rows_rejected": len(result.rejects),
            "restored_after_dead_import": len(result.restored.indexes) + len(result.restored.foreign_keys),
            "rows_repaired": sum(result.restored.repaired_rows.values()),
            "bytes_read": result.file_bytes,
            "seconds": round(seconds, 3),
            "items_per_second": round(result.records / seconds) if seconds else 0,
            **{f"seconds_{name}": round(value, 3) for name, value in result.seconds.items()},
        })
    return metadata


@dg.asset(
    key=key("perks"),
    deps=[key("items")],
    group_name=GROUP,
    kinds={"postgres", "json"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
)
def perks(
    context: dg.AssetExecutionContext, postgres: PostgresResource, gamedata_files: GamedataFiles
) -> dg.MaterializeResult:
    """gamedata.perks from perks.json, linked to the imported items by AOID (replaced as a whole)."""
    path = gamedata_files.path(PERKS_FILE)
    try:
        with postgres.connection() as conn:
            result = import_perks(conn, path, run_id=context.run.run_id)
            catalog = table_metadata(conn, "gamedata.perks")
    except PerksFormatError as exc:
        raise dg.Failure(description=str(exc)) from None
    warn_rejects(context.log, path.name, result.rejects)
    return dg.MaterializeResult(metadata={
        **catalog,
        "rows_rejected": len(result.rejects),
        "source": str(path),
    })


@dg.asset(
    key=key("symbiants"),
    deps=[key("items")],
    group_name=GROUP,
    kinds={"postgres", "json"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
)
def symbiants(
    context: dg.AssetExecutionContext, postgres: PostgresResource, gamedata_files: GamedataFiles
) -> dg.MaterializeResult:
    """gamedata.mobs, sources and item_sources from symbiants.csv; refreshes gamedata.symbiant_items."""
    path = gamedata_files.path(SYMBIANTS_FILE)
    with postgres.connection() as conn:
        result = import_symbiants(conn, path, run_id=context.run.run_id)
        catalog = table_metadata(conn, "gamedata.item_sources")
    warn_rejects(context.log, path.name, result.rejects)
    return dg.MaterializeResult(metadata={
        **catalog,
        "item_sources_written": result.item_sources,
        "mobs": result.mobs,
        "duplicates": result.duplicates,
        "rows_rejected": len(result.rejects),
        "source": str(path),
    })


dump_job = dg.define_asset_job(
    "gamedata_dump_job",
    selection=dg.AssetSelection.assets(*[key(phase) for phase in PHASES]),
    tags=FAMILY_TAG,
    description="One dump (partition items or nanos) in one pass: every phase's tables in one transaction",
)
extras_job = dg.define_asset_job(
    "gamedata_extras_job",
    selection=dg.AssetSelection.assets(key("perks"), key("symbiants")),
    tags=FAMILY_TAG,
    description="perks.json and symbiants.csv, linked to the imported items",
)

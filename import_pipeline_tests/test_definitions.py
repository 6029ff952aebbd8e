"""Every definition of the code location loads and validates, as `dg check defs` would."""

import dagster as dg

from import_pipeline.definitions import defs


def test_definitions_load_and_validate() -> None:
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    keys = {key.to_user_string() for key in loaded.resolve_asset_graph().get_all_asset_keys()}
    assert {"example/stations", "example/readings", "example/station_summary"} <= keys
    phases = ("stat_values", "criteria", "items", "item_stats", "shop_hash", "attack_defense", "animation_mesh",
              "actions", "spells", "perks", "symbiants")
    assert {f"gamedata/{phase}" for phase in phases} <= keys
    assert loaded.resolve_sensor_def("gamedata_landing_sensor")
    assert loaded.resolve_job_def("gamedata_dump_job")
    assert {"datasets/staged_rows", "datasets/commits", "datasets/dataset_search"} <= keys
    assert loaded.resolve_sensor_def("datasets_landing_sensor")
    assert loaded.resolve_schedule_def("datasets_search_schedule")
    assert set(loaded.resources) >= {"postgres", "io_manager", "gamedata_files", "dataset_files_folder"}


def test_the_search_view_is_one_asset_after_the_commits_of_every_file() -> None:
    loaded = defs()
    search = loaded.resolve_assets_def(dg.AssetKey(["datasets", "dataset_search"]))
    assert search.partitions_def is None
    assert dg.AssetKey(["datasets", "commits"]) in search.asset_deps[dg.AssetKey(["datasets", "dataset_search"])]


def test_importing_definitions_touches_no_database() -> None:
    assert defs().resources["postgres"]._pool is None

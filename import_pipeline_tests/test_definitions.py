"""Every definition of the code location loads and validates, as `dg check defs` would."""

import dagster as dg

from import_pipeline.definitions import defs


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"example/stations", "example/readings", "example/station_summary"} <= keys
    phases = ("stat_values", "criteria", "items", "item_stats", "attack_defense", "animation_mesh", "actions",
              "spells", "perks", "symbiants")
    assert {f"gamedata/{phase}" for phase in phases} <= keys
    assert defs.resolve_sensor_def("gamedata_landing_sensor")
    assert defs.resolve_job_def("gamedata_dump_job")
    assert {"datasets/staged_rows", "datasets/commits", "datasets/dataset_search"} <= keys
    assert defs.resolve_sensor_def("datasets_landing_sensor")
    assert defs.resolve_schedule_def("datasets_maintenance_schedule")


def test_importing_definitions_touches_no_database() -> None:
    assert defs.resources["postgres"]._pool is None

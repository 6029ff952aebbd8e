"""Every definition of the code location loads and validates, as `dg check defs` would."""

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

import import_pipeline
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
    assert {"properties/search_results", "properties/details", "properties/cases"} <= keys
    assert loaded.resolve_job_def("properties_crawl_job")
    discogs = {f"discogs/{name}" for name in ("artists", "labels", "masters", "releases", "artist_graph",
                                               "label_graph", "master_graph", "release_graph")}
    assert discogs <= keys
    assert loaded.resolve_sensor_def("discogs_landing_sensor")
    assert loaded.resolve_schedule_def("discogs_maintenance_schedule")
    assert loaded.resolve_job_def("discogs_import_job")
    assert {"skype/messages", "skype/conversations", "skype/participants"} <= keys
    assert loaded.resolve_sensor_def("skype_landing_sensor")
    assert loaded.resolve_job_def("skype_import_job")
    assert set(loaded.resources) >= {"postgres", "io_manager", "gamedata_files", "dataset_files_folder", "property_api",
                                     "discogs_files", "skype_files"}


def test_the_weekly_schedule_requests_one_run_per_municipality_once_a_week() -> None:
    loaded = defs()
    schedule = loaded.resolve_schedule_def("properties_weekly_schedule")
    when = dg.build_schedule_context(scheduled_execution_time=datetime.datetime(2026, 12, 7, 2, tzinfo=datetime.UTC),
                                     repository_def=loaded.get_repository_def())
    requests = list(schedule.evaluate_tick(when).run_requests or [])
    assert len(requests) == 40 == len({r.partition_key for r in requests})
    assert {r.run_key for r in requests} == {f"2026-W50:{r.partition_key}" for r in requests}
    assert schedule.job_name == "properties_crawl_job"


def test_the_properties_steps_share_one_pool_and_the_family_tag() -> None:
    loaded = defs()
    for name in ("search_results", "details", "cases"):
        asset = loaded.resolve_assets_def(dg.AssetKey(["properties", name]))
        assert asset.node_def.pool == "properties_api"
        assert asset.partitions_def is not None and len(asset.partitions_def.get_partition_keys()) == 40
    assert loaded.resolve_job_def("properties_crawl_job").tags["import_pipeline/family"] == "properties"


def test_the_search_view_is_one_asset_after_the_commits_of_every_file() -> None:
    loaded = defs()
    search = loaded.resolve_assets_def(dg.AssetKey(["datasets", "dataset_search"]))
    assert search.partitions_def is None
    assert dg.AssetKey(["datasets", "commits"]) in search.asset_deps[dg.AssetKey(["datasets", "dataset_search"])]


def test_importing_definitions_touches_no_database() -> None:
    assert defs().resources["postgres"]._pool is None


def test_the_ui_reads_as_the_import_phases_of_each_family() -> None:
    graph = defs().resolve_asset_graph()
    unexplained = []
    for asset_key in graph.get_all_asset_keys():
        node = graph.get(asset_key)
        kinds = set(node.kinds)
        if not (node.description and node.owners and node.group_name and "postgres" in kinds and len(kinds) >= 2):
            unexplained.append((asset_key.to_user_string(), node.description is not None, node.owners, kinds))
    assert unexplained == []
    jobs = [job for job in defs().resolve_all_job_defs() if not job.name.startswith("__")]
    assert [job.name for job in jobs if not job.description] == []
    checks = {key.name for key in graph.asset_check_keys}
    assert {"rejects_under_ratio", "conversations_account_for_every_message", "no_orphan_rows"} <= checks
    assert defs().resolve_job_def("maintenance_job") and defs().resolve_schedule_def("maintenance_nightly_schedule")


def test_an_installed_copy_without_the_project_files_loads_the_same_definitions(tmp_path: Path) -> None:
    """`pip install .` and container images hold the package alone, with no pyproject.toml above it."""
    installed = tmp_path / "site-packages"
    shutil.copytree(Path(import_pipeline.__file__).parent, installed / "import_pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        "import import_pipeline, import_pipeline.definitions as d\n"
        "print(import_pipeline.__file__)\n"
        "print(len(d.defs().resolve_asset_graph().get_all_asset_keys()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(installed)})
    assert done.returncode == 0, done.stderr[-2000:]
    module_file, asset_count = done.stdout.split()
    assert Path(module_file).is_relative_to(installed)
    assert int(asset_count) == len(defs().resolve_asset_graph().get_all_asset_keys())

"""Names from outside (partition keys, sidecars, sensors) never lead out of a landing folder."""

import os
from pathlib import Path

import dagster as dg
import pytest

from import_pipeline.defs.datasets.resources import DatasetFiles
from import_pipeline.defs.gamedata.resources import GamedataFiles
from import_pipeline.landing import LandingPathError, landed_file

SUFFIXES = (".csv", ".xlsx")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    (folder / "good.csv").write_text("a\n1\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    (folder / "escape.csv").symlink_to(secret)
    (folder / "inside.csv").symlink_to(folder / "good.csv")
    (folder / "sub").mkdir()
    (folder / "sub" / "nested.csv").write_text("a\n1\n")
    (folder / "dir.csv").mkdir()
    (folder / "loop.csv").symlink_to(folder / "loop.csv")
    return folder


def test_a_plain_name_and_a_symlink_inside_resolve(landing: Path) -> None:
    assert landed_file(landing, "good.csv", SUFFIXES) == landing / "good.csv"
    assert landed_file(landing, "inside.csv", SUFFIXES) == landing / "inside.csv"
    assert landed_file(landing, "GOOD.CSV".lower(), SUFFIXES).name == "good.csv"


@pytest.mark.parametrize("name, says", [
    ("../secret.csv", "folder part"),
    ("../../../../etc/passwd", "folder part"),
    ("/etc/passwd", "folder part"),
    ("sub/nested.csv", "folder part"),
    ("..\\secret.csv", "folder part"),
    ("..", "not a file name"),
    ("", "not a file name"),
    ("a\x00.csv", "control character"),
    ("x" * 300 + ".csv", "longer than 255 bytes"),
    ("good.sh", "does not end in"),
    ("escape.csv", "leads outside the landing folder"),
    ("dir.csv", "not a regular file"),
    ("missing.csv", "does not exist"),
    ("loop.csv", "cannot be resolved"),
])
def test_every_escape_is_refused_with_one_line(landing: Path, name: str, says: str) -> None:
    with pytest.raises(LandingPathError, match=says) as refused:
        landed_file(landing, name, SUFFIXES)
    assert "\n" not in str(refused.value)


def test_datasets_partition_key_cannot_read_outside_the_folder(landing: Path) -> None:
    files = DatasetFiles(landing_dir=str(landing))
    for key in ("../secret.csv", "../../../../etc/passwd", "escape.csv"):
        with pytest.raises(dg.Failure):
            files.request(key)
    assert [p.name for p in files.data_files()] == ["good.csv", "inside.csv"]


def test_a_sidecar_symlink_out_of_the_folder_is_refused(landing: Path, tmp_path: Path) -> None:
    outside = tmp_path / "settings.json"
    outside.write_text('{"dataset": "stolen"}')
    (landing / "good.csv.json").symlink_to(outside)
    with pytest.raises(dg.Failure, match="leads outside"):
        DatasetFiles(landing_dir=str(landing)).request("good.csv")


def test_gamedata_files_cannot_be_symlinks_out_of_the_folder(landing: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.csv", landing / "items.json")
    with pytest.raises(dg.Failure, match="leads outside"):
        GamedataFiles(landing_dir=str(landing)).path("items.json")

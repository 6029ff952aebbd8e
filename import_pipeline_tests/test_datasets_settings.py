"""Sidecar and request settings are validated by one schema and refused in one line naming the field."""

import json
from pathlib import Path

import dagster as dg
import pytest

from import_pipeline.defs.datasets.resources import DatasetFiles
from import_pipeline.load.datasets.request import ImportRequest


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    (tmp_path / "sales.csv").write_text("a,b\n1,2\n")
    return tmp_path


def request_with(landing: Path, sidecar: object) -> ImportRequest:
    (landing / "sales.csv.json").write_text(json.dumps(sidecar))
    return DatasetFiles(landing_dir=str(landing)).request("sales.csv")


@pytest.mark.parametrize("sidecar, field, says", [
    ({"dataset": 42}, "dataset", "valid string"),
    ({"dataset": "  "}, "dataset", "is empty"),
    ({"dataset": "a\x00b"}, "dataset", "control character"),
    ({"encoding": "klingon"}, "encoding", "unknown encoding 'klingon'"),
    ({"has_header": "no"}, "has_header", "valid boolean"),
    ({"ref": ""}, "ref", "not a valid ref name"),
    ({"ref": "a\x00b"}, "ref", "not a valid ref name"),
    ({"ref": "../x"}, "ref", "not a valid ref name"),
    ({"mode": "upsert"}, "mode", "'replace' or 'append'"),
    ({"message": "hi\x00"}, "message", "control character"),
    ({"colour": "red"}, "colour", "unknown key"),
])
def test_a_bad_sidecar_value_is_refused_naming_the_field(landing: Path, sidecar: dict, field: str, says: str) -> None:
    with pytest.raises(dg.Failure) as refused:
        request_with(landing, sidecar)
    description = refused.value.description or ""
    assert f"field {field!r}" in description and says in description
    assert "\n" not in description


def test_a_sidecar_that_is_not_an_object_is_refused(landing: Path) -> None:
    with pytest.raises(dg.Failure, match="expected a JSON object"):
        request_with(landing, ["dataset", "x"])


def test_good_settings_pass_unchanged(landing: Path) -> None:
    request = request_with(landing, {"dataset": "Sales 2024", "ref": "feature/q1", "has_header": False,
                                     "encoding": "latin-1", "message": "line one\nline two"})
    assert (request.dataset, request.ref, request.has_header, request.encoding) == (
        "Sales 2024", "feature/q1", False, "latin-1")


def test_a_file_name_too_long_for_a_sidecar_imports_without_one(tmp_path: Path) -> None:
    name = "x" * 251 + ".csv"  # 255 bytes: the sidecar's name would be 260
    (tmp_path / name).write_text("a\n1\n")
    assert DatasetFiles(landing_dir=str(tmp_path)).request(name).dataset == "x" * 251


def test_a_request_made_in_code_follows_the_same_rules(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="field 'has_header'"):
        ImportRequest(path=tmp_path / "a.csv", dataset="a", has_header="yes")  # type: ignore[arg-type]

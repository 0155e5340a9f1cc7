"""Spark benchmark: featurestore on Spark local[2] vs featurestore on DuckDB vs Feast's Spark offline store.

    python benchmarks/spark.py               # full size (15-30 min on 2 cores); updates benchmarks/README.md
    python benchmarks/spark.py --quick       # small smoke run, under 2 minutes; leaves the README alone
    python benchmarks/spark.py --skip-feast --sizes 1000000,5000000

Jobs, each run in a fresh subprocess (so peaks are its own): the training-set job of training_set.py
(same generated files, ``tsbench/``), written with ``to_parquet``; Feast's Spark offline store on the same
files (``feast[spark]`` installed once into ``benchmarks/.work/venv-feast-spark``); the results checked
row by row. Then driver memory at two result sizes, growth with the feature rows at fixed cores
(``--sizes``), materialization, and the windowed-aggregation job of aggregations.py (reported as not
available while the Spark engine refuses windowed aggregations). Parts: ``spark_worker.py`` (ours),
``spark_feast_worker.py`` (Feast), ``spark_process.py`` (shared Spark settings, /proc peaks),
``spark_report.py`` (tables). See benchmarks/README.md, "Spark engine".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path[:0] = [str(BENCH_DIR / "tsbench"), str(BENCH_DIR / "aggbench"), str(BENCH_DIR)]

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from spark_process import MASTER, RESULT_PREFIX  # noqa: E402
from spark_report import (  # noqa: E402
    Run,
    memory_table,
    scaling_table,
    throughput_table,
    training_table,
    write_readme,
)
from ts_compare import compare_by_row_id, compare_ordered  # noqa: E402
from ts_data import Sizes, ensure_data  # noqa: E402
from ts_env import featurestore_code  # noqa: E402
from ts_spec import DataPaths  # noqa: E402

REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS = WORK_DIR / "spark-results"
FEAST_VENV = WORK_DIR / "venv-feast-spark"
FEAST_REQUIREMENT = "feast[spark]==0.67.0"  # the version the other benchmarks pin; needs pyspark>=4
README = BENCH_DIR / "README.md"
OURS_SPARK, OURS_DUCKDB, FEAST = (
    f"featurestore, Spark {MASTER}",
    "featurestore, DuckDB",
    f"Feast 0.67, Spark offline store ({MASTER})",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--feature-rows", type=int, default=5_000_000, help="rows of driver_stats in the main job")
    add("--customer-rows", type=int, default=1_000_000, help="rows of customer_profile")
    add("--entity-rows", type=int, default=1_000_000)
    add("--keys", type=int, default=100_000, help="distinct drivers, and customers")
    add("--sizes", default="1000000,5000000,20000000", help="driver_stats rows for the growth table")
    add("--small-result", type=int, default=200_000, help="entity rows of the smaller result (memory)")
    add("--calls", type=int, default=2, help="calls per process in the main job (first cold, then warm)")
    add("--agg-events", type=int, default=10_000_000, help="events of the aggregation job")
    add("--skip-feast", action="store_true", help="leave Feast out")
    add("--no-aggregation", action="store_true", help="leave the aggregation job out")
    add("--no-materialize", action="store_true", help="leave materialization out")
    add("--working-tree", action="store_true", help="run featurestore from the working tree, not HEAD")
    add("--timeout", type=float, default=1800.0, help="seconds allowed per measured run")
    add("--feast-timeout", type=float, default=900.0, help="seconds allowed per Feast run")
    add("--quick", action="store_true", help="small smoke run: 100k/20k/20k rows, one size")
    add("--readme", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "benchmarks/spark.py", *argv])
    if args.quick:
        args.feature_rows, args.customer_rows, args.entity_rows, args.keys = 100_000, 20_000, 20_000, 2_000
        args.sizes, args.small_result, args.agg_events, args.calls = "100000", 5_000, 100_000, 1
    if args.readme is None:
        args.readme = not args.quick
    args.size_list = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def ensure_feast_venv() -> tuple[Path | None, str]:
    """The Feast Spark virtualenv's python (created and installed once, then reused), or None and why."""
    python = FEAST_VENV / "bin" / "python"
    probe = "import feast.infra.offline_stores.contrib.spark_offline_store.spark, pyspark"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python, ""
    print(f"installing {FEAST_REQUIREMENT} into {FEAST_VENV} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True, timeout=300)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", FEAST_REQUIREMENT],
            check=True,
            timeout=1800,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        return None, f"installing {FEAST_REQUIREMENT} failed: {(exc.stderr or '').strip()[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"installing {FEAST_REQUIREMENT} failed: {exc}"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return (
            None,
            f"{FEAST_REQUIREMENT} installed, but its Spark store does not import: {done.stderr[-300:]}",
        )
    return python, ""


class Runner:
    """Runs one measured subprocess and reads its RESULT line."""

    def __init__(self, code_path: Path | None, feast_python: Path | None, args: argparse.Namespace) -> None:
        self.code_path, self.feast_python = code_path, feast_python
        self.timeout, self.feast_timeout = args.timeout, args.feast_timeout

    def run(self, label: str, job: Mapping[str, object], feast: bool = False) -> Run:
        scratch = WORK_DIR / "spark-scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        job = {**job, "scratch": str(scratch)}
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["FEAST_USAGE"] = "False"
        if feast:
            assert self.feast_python is not None  # only called when the virtualenv exists
            command = [str(self.feast_python), str(BENCH_DIR / "spark_feast_worker.py"), json.dumps(job)]
        else:
            command = [sys.executable, str(BENCH_DIR / "spark_worker.py"), json.dumps(job)]
            if self.code_path is not None:
                env["PYTHONPATH"] = str(self.code_path)
        print(f"{label}: {job.get('task', 'training')} on {Path(str(job['data'])).name} ...", flush=True)
        timeout = self.feast_timeout if feast else self.timeout
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, cwd=scratch, env=env
            )
        except subprocess.TimeoutExpired:
            return self._say(Run(label, error=f"timed out after {timeout:.0f} s"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            return self._say(
                Run(label, error=f"exit code {done.returncode}: {_cause(done.stderr or done.stdout)}")
            )
        return self._say(Run(label, json.loads(lines[-1].removeprefix(RESULT_PREFIX))))

    @staticmethod
    def _say(run: Run) -> Run:
        if run.ok:
            f = run.figures
            print(
                f"  {run.seconds:.2f} s (CPU {f['cpu_seconds']:.2f} s), {f['rows']:,} rows, peak RSS "
                f"Python {f['python_peak_kb'] / 1024:.0f} MB + JVM {f['jvm_peak_kb'] / 1024:.0f} MB",
                flush=True,
            )
        else:
            print(f"  not run: {run.why_not()}", flush=True)
        return run


def _cause(output: str) -> str:
    """The last ``SomeError: message`` line of a failed run's output (Python's or Java's), else its tail.

    >>> _cause("Traceback ...\\n: java.lang.OutOfMemoryError: Java heap space\\n\\tat x.y(Z.java:1)")
    'java.lang.OutOfMemoryError: Java heap space'
    """
    lines = output.strip().splitlines()
    causes = [line.strip(": \t") for line in lines if re.match(r"^[:\s]*[\w.]+(Error|Exception): ", line)]
    return causes[-1] if causes else " / ".join(lines[-4:])


def _check_training(result: Path, reference: Path, by_row_id: bool) -> str:
    if not result.exists() or not reference.exists():
        return "not checked (a result is missing)"
    compare = compare_by_row_id if by_row_id else compare_ordered
    return f"{compare(pq.read_table(result), pq.read_table(reference)).summary()} (all rows)"


def _as_number(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as float64 for comparison; times as their microseconds since the epoch."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return column.cast(pa.float64())


def _check_aggregates(result: Path, reference: Path) -> str:
    """Counts and maxima equal, sums within 1e-9 relative (float sums in another order), nulls equal."""
    if not result.exists() or not reference.exists():
        return "not checked (a result is missing)"
    left, right = pq.read_table(result), pq.read_table(reference)
    if left.num_rows != right.num_rows:
        return f"{left.num_rows} rows vs {right.num_rows}"
    bad = np.zeros(left.num_rows, dtype=bool)
    for name in right.column_names:
        a, b = _as_number(left[name]), _as_number(right[name])
        close = pc.less_equal(pc.abs(pc.subtract(a, b)), pc.multiply(pc.abs(b), 1e-9))
        same = pc.or_(pc.fill_null(close, False), pc.and_(pc.is_null(a), pc.is_null(b)))
        bad |= ~same.to_numpy(zero_copy_only=False)
    return f"{int(bad.sum())} rows differ (all rows)"


def entity_subset(paths: DataPaths, rows: int) -> str:
    """The first ``rows`` entity rows as their own file (the smaller result of the memory table)."""
    target = Path(paths.folder) / f"entities-first-{rows}.parquet"
    if not target.exists():
        pq.write_table(pq.read_table(paths.entities).slice(0, rows), target)
    return str(target)


def training_job(runner: Runner, paths: DataPaths, args: argparse.Namespace, feast: bool) -> list[Run]:
    base = {"task": "training", "data": paths.folder, "calls": args.calls}
    spark_out, duck_out, feast_out = (RESULTS / n for n in ("spark.parquet", "duckdb.parquet", "feast"))
    runs = [
        runner.run(OURS_SPARK, {**base, "engine": "spark", "result": str(spark_out)}),
        runner.run(OURS_DUCKDB, {**base, "engine": "duckdb", "result": str(duck_out)}),
    ]
    runs[1].check = "reference"
    runs[0].check = _check_training(spark_out, duck_out, by_row_id=False)
    if feast:
        feast_job = {**base, "calls": 1, "result": str(feast_out)}
        runs.append(runner.run(FEAST, feast_job, feast=True))
        runs[2].check = _check_training(feast_out, duck_out, by_row_id=True)
    for run in runs:
        print(f"  check, {run.label}: {run.check}", flush=True)
    return runs


def _total(args: argparse.Namespace, driver_rows: int) -> int:
    return driver_rows + int(args.customer_rows) + int(args.entity_rows)


def main(argv: list[str]) -> None:
    # On SIGTERM, exit through Python so that subprocess.run kills the running worker too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(RESULTS, ignore_errors=True)
    RESULTS.mkdir(parents=True)
    code = featurestore_code(REPO_ROOT, WORK_DIR, args.working_tree)
    feast_python, feast_why = (None, "left out (--skip-feast)")
    if not args.skip_feast:
        feast_python, feast_why = ensure_feast_venv()
        if feast_python is None:
            print(f"Feast left out: {feast_why}", flush=True)
    runner = Runner(code.path, feast_python, args)

    def sizes(driver_rows: int) -> Sizes:
        return Sizes(driver_rows, args.customer_rows, args.entity_rows, args.keys)

    paths = ensure_data(WORK_DIR, sizes(args.feature_rows))
    main_runs = training_job(runner, paths, args, feast_python is not None)
    if feast_python is None:
        main_runs.append(Run(FEAST, error=feast_why))

    small = entity_subset(paths, args.small_result)
    small_run = runner.run(
        OURS_SPARK,
        {
            "task": "training",
            "engine": "spark",
            "data": paths.folder,
            "entities": small,
            "result": str(RESULTS / "small.parquet"),
        },
    )
    memory = [small_run, main_runs[0]]

    growth: list[tuple[int, int, Run]] = []
    for size in args.size_list:
        if size == args.feature_rows and main_runs[0].ok:
            growth.append((size, _total(args, size), main_runs[0]))  # its first, cold call
            continue
        folder = ensure_data(WORK_DIR, sizes(size)).folder
        job = {"task": "training", "engine": "spark", "data": folder, "result": str(RESULTS / "g.parquet")}
        growth.append((size, _total(args, size), runner.run(OURS_SPARK, job)))

    materialized: list[Run] = []
    if not args.no_materialize:
        for label, engine in ((OURS_SPARK, "spark"), (OURS_DUCKDB, "duckdb")):
            job = {"task": "materialize", "engine": engine, "data": paths.folder}
            materialized.append(runner.run(label, job))

    aggregated: list[Run] = []
    if not args.no_aggregation:
        from agg_data import Sizes as AggSizes
        from agg_data import ensure_data as ensure_agg_data

        agg_keys = 5_000 if args.quick else 100_000
        agg_folder = ensure_agg_data(WORK_DIR, AggSizes(args.agg_events, args.entity_rows, agg_keys))
        base = {"task": "aggregation", "data": str(agg_folder)}
        spark_run = runner.run(
            OURS_SPARK, {**base, "engine": "spark", "result": str(RESULTS / "agg-s.parquet")}
        )
        aggregated.append(spark_run)
        if spark_run.ok:  # DuckDB alone has its own benchmark: run it here only to compare with Spark
            duck = runner.run(
                OURS_DUCKDB, {**base, "engine": "duckdb", "result": str(RESULTS / "agg-d.parquet")}
            )
            spark_run.check = _check_aggregates(RESULTS / "agg-s.parquet", RESULTS / "agg-d.parquet")
            duck.check = "reference"
            aggregated.append(duck)

    report = render(args, code.label, load_before, paths, main_runs, memory, growth, materialized, aggregated)
    print("\n" + report)
    (WORK_DIR / "spark-report.md").write_text(report + "\n")  # kept, whatever happens to the README
    shutil.rmtree(RESULTS, ignore_errors=True)
    if args.readme:
        write_readme(README, report)
        print(f"\nfigures written to {README.relative_to(REPO_ROOT)}")


def render(
    args: argparse.Namespace,
    code: str,
    load_before: float,
    paths: DataPaths,
    main_runs: list[Run],
    memory: list[Run],
    growth: list[tuple[int, int, Run]],
    materialized: list[Run],
    aggregated: list[Run],
) -> str:
    import duckdb
    import pyspark

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{now}, {os.cpu_count()} cores, Python {platform.python_version()}, pyspark {pyspark.__version__}, "
        f"DuckDB {duckdb.__version__}, featurestore from {code}; 1-minute load average {load_before:.2f} "
        f"before the run and {os.getloadavg()[0]:.2f} after it"
    )
    parts = [
        f"{machine}. Command: `{args.command}`.",
        f"Training set: driver_stats {args.feature_rows:,} rows, customer_profile {args.customer_rows:,} "
        f"rows, {args.entity_rows:,} entity rows, {args.keys:,} keys ({Path(paths.folder).name}).",
        training_table(main_runs, args.entity_rows),
        "Driver memory (featurestore on Spark, the same job at two result sizes, `to_parquet`):",
        memory_table(memory),
        f"Growth with the data at fixed cores ({MASTER}; {args.customer_rows:,} customer_profile rows and "
        f"{args.entity_rows:,} entity rows throughout; one cold call each):",
        scaling_table(growth),
    ]
    if materialized:
        parts += [
            "Materialization (latest values of both views into the embedded SQLite online store):",
            throughput_table(materialized, "entities written"),
        ]
    if aggregated:
        parts += [
            f"Windowed aggregations (the job of aggregations.py: {args.agg_events:,} events, "
            f"{args.entity_rows:,} entity rows, 12 aggregates):",
            throughput_table(aggregated, "entity rows"),
        ]
    return "\n\n".join(parts)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Training-set benchmark: featurestore vs a hand-written DuckDB query vs Feast 0.67, in one run.

    python benchmarks/training_set.py            # full size: 5M + 1M feature rows, 1M entity rows
    python benchmarks/training_set.py --quick    # small smoke run (does not touch the README)

Each measured run is a fresh subprocess, so its peak RSS is its own; repetitions go round-robin over the
systems so that background load hits them alike. The parts live in benchmarks/tsbench/.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PARTS_DIR = BENCH_DIR / "tsbench"
# Import the parts from tsbench/, and not from benchmarks/ itself, whose other scripts could shadow
# standard modules.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(PARTS_DIR))

import pyarrow.parquet as pq  # noqa: E402
from ts_compare import compare_by_row_id, compare_ordered  # noqa: E402
from ts_data import Sizes, ensure_data  # noqa: E402
from ts_env import CodeUnderTest, ensure_feast_venv, featurestore_code  # noqa: E402
from ts_report import (  # noqa: E402
    LABELS,
    REFERENCE,
    Outcome,
    machine_line,
    results_table,
    sizes_line,
    write_readme,
)
from ts_spec import RESULT_PREFIX, DataPaths, Job  # noqa: E402

REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
FEAST_VENV = BENCH_DIR / ".feast-venv"
README = BENCH_DIR / "README.md"
ALL_SYSTEMS = tuple(LABELS)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--feature-rows", type=int, default=5_000_000, help="rows of driver_stats")
    add("--customer-rows", type=int, default=1_000_000, help="rows of customer_profile")
    add("--entity-rows", type=int, default=1_000_000, help="entity rows to join")
    add("--keys", type=int, default=100_000, help="distinct drivers, and customers")
    add("--repeat", type=int, default=5, help="repetitions per system (medians quoted)")
    add("--quick", action="store_true", help="small smoke run: 100k/20k/20k rows, 1 repetition")
    add("--systems", default=",".join(ALL_SYSTEMS), help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}")
    add("--skip-feast", action="store_true", help="leave Feast out")
    add("--working-tree", action="store_true", help="run featurestore from the working tree, not HEAD")
    add("--timeout", type=float, default=600.0, help="seconds allowed per measured run")
    add("--feast-timeout", type=float, default=1800.0, help="seconds allowed per Feast run")
    add(
        "--once-over",
        type=float,
        default=60.0,
        help="a system slower than this (s) on its first run runs once",
    )
    add(
        "--readme",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the figures into benchmarks/README.md (default: yes unless --quick)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.feature_rows, args.customer_rows, args.entity_rows = 100_000, 20_000, 20_000
        args.keys, args.repeat = 2_000, 1
    if args.readme is None:
        args.readme = not args.quick
    return args


def chosen_systems(args: argparse.Namespace) -> list[str]:
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(ALL_SYSTEMS))
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; choose from {', '.join(ALL_SYSTEMS)}")
    if REFERENCE not in systems:
        systems.insert(0, REFERENCE)  # everything is compared with it
    if args.skip_feast:
        systems = [s for s in systems if not s.startswith("feast-")]
    return systems


class Runner:
    """Starts one measured run of a system in a fresh subprocess and reads its RESULT line."""

    def __init__(self, code: CodeUnderTest, feast_python: Path | None, args: argparse.Namespace) -> None:
        self.code = code
        self.feast_python = feast_python
        self.args = args

    def _command(self, job: Job) -> list[str]:
        if job.system.startswith("feast-"):
            assert self.feast_python is not None
            return [str(self.feast_python), str(PARTS_DIR / "ts_feast_worker.py"), job.to_json()]
        return [sys.executable, str(PARTS_DIR / "ts_worker.py"), job.to_json()]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["FEAST_USAGE"] = "False"
        if self.code.path is not None:
            env["PYTHONPATH"] = str(self.code.path)
        return env

    def run(self, job: Job) -> dict[str, float] | str:
        """The run's RESULT line as a dict, or why it failed."""
        feast = job.system.startswith("feast-")
        timeout = self.args.feast_timeout if feast else self.args.timeout
        try:
            done = subprocess.run(
                self._command(job),
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=job.scratch,
                env=self._env(),
            )
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout:.0f} s"
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
            return f"exit code {done.returncode}: {tail}"
        result: dict[str, float] = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
        return result


def _result_path(system: str) -> Path:
    return WORK_DIR / f"result-{system}.parquet"


def measure(
    systems: list[str], paths: DataPaths, runner: Runner, args: argparse.Namespace
) -> dict[str, Outcome]:
    """Round-robin repetitions; a system's first successful run also writes its result for checking.

    A system that failed is not retried, and one slower than ``--once-over`` seconds runs once.
    """
    outcomes = {system: Outcome(system) for system in systems}
    for rep in range(1, args.repeat + 1):
        for system in systems:
            outcome = outcomes[system]
            if outcome.error or (outcome.seconds and outcome.seconds[0] > args.once_over):
                continue
            with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix=f"{system}-") as scratch:
                result_path = None if outcome.seconds else str(_result_path(system))
                result = runner.run(Job(system, paths.folder, scratch, result_path))
            if isinstance(result, str):
                outcome.error = result
                print(f"[{rep}/{args.repeat}] {system}: FAILED: {result}", flush=True)
                continue
            outcome.add(result)
            print(
                f"[{rep}/{args.repeat}] {system}: {result['seconds']:.2f} s "
                f"(CPU {result['cpu_seconds']:.2f} s), peak RSS {outcome.rss_mb[-1]:.0f} MB, "
                f"{outcome.rows} rows",
                flush=True,
            )
    return outcomes


def check_results(outcomes: dict[str, Outcome]) -> None:
    """Compare every system's first result with the reference (input order; Feast by row id)."""
    reference_path = _result_path(REFERENCE)
    if not reference_path.exists():
        return
    reference = pq.read_table(reference_path)
    for system, outcome in outcomes.items():
        path = _result_path(system)
        if system == REFERENCE or not path.exists():
            continue
        compare = compare_by_row_id if system.startswith("feast-") else compare_ordered
        outcome.comparison = compare(pq.read_table(path), reference)
        path.unlink()
    reference_path.unlink()


def main(argv: list[str]) -> None:
    # On SIGTERM, exit through Python so that subprocess.run kills the running worker too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    systems = chosen_systems(args)
    load_before = os.getloadavg()[0]
    sizes = Sizes(args.feature_rows, args.customer_rows, args.entity_rows, args.keys)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    print(f"data: {sizes_line(sizes, args.repeat, args.once_over)}", flush=True)
    paths = ensure_data(WORK_DIR, sizes)
    code = featurestore_code(REPO_ROOT, WORK_DIR, args.working_tree)
    feast_python = None
    if any(s.startswith("feast-") for s in systems):
        feast_python, why = ensure_feast_venv(FEAST_VENV)
        if feast_python is None:
            print(f"Feast left out: {why}", flush=True)
            systems = [s for s in systems if not s.startswith("feast-")]
    outcomes = measure(systems, paths, Runner(code, feast_python, args), args)
    check_results(outcomes)
    machine = machine_line(code.label, load_before, os.getloadavg()[0])
    report = (
        f"{machine}.\n\nData: {sizes_line(sizes, args.repeat, args.once_over)}.\n\n"
        f"{results_table(outcomes, sizes.entity_rows)}"
    )
    print("\n" + report)
    for outcome in outcomes.values():
        if outcome.error:
            print(f"\n{outcome.system} failed:\n{outcome.error}")
    if args.readme:
        write_readme(README, report)
        print(f"\nfigures written to {README.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])

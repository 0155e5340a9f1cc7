"""Training-set benchmark: featurestore vs a hand-written DuckDB query vs Feast 0.67, in one run.

    python benchmarks/training_set.py            # full size: 5M + 1M feature rows, 1M entity rows
    python benchmarks/training_set.py --quick    # small smoke run (does not touch the README)

Each measured run is a fresh subprocess, so its peak RSS is its own; repetitions go round-robin over the
systems so that background load hits them alike. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from ts_compare import Comparison, compare_by_row_id, compare_ordered  # noqa: E402
from ts_data import Sizes, ensure_data  # noqa: E402
from ts_spec import RESULT_PREFIX, DataPaths, Job  # noqa: E402

REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
FEAST_VENV = BENCH_DIR / ".feast-venv"
FEAST_REQUIREMENT = "feast[duckdb]==0.67.0"
README = BENCH_DIR / "README.md"
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"

REFERENCE = "raw-dedup"
RAW_CORRECT = ("raw-dedup", "raw-struct")
LABELS = {
    "raw-dedup": "raw DuckDB: dedup + ASOF + ttl",
    "raw-struct": "raw DuckDB: ASOF on (ts, created) + ttl",
    "raw-bare": "raw DuckDB: bare ASOF (floor, not correct)",
    "ours": "featurestore",
    "feast-duckdb": "Feast 0.67, DuckDB offline store",
    "feast-file": "Feast 0.67, file (dask) offline store",
}
ALL_SYSTEMS = tuple(LABELS)


@dataclass
class Outcome:
    """Everything measured for one system over its repetitions."""

    system: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    rows: int = 0
    error: str = ""
    comparison: Comparison | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)


# ----------------------------------------------------------------------------------------------- setup


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feature-rows", type=int, default=5_000_000, help="rows of driver_stats")
    parser.add_argument("--customer-rows", type=int, default=1_000_000, help="rows of customer_profile")
    parser.add_argument("--entity-rows", type=int, default=1_000_000, help="entity rows to join")
    parser.add_argument("--keys", type=int, default=100_000, help="distinct drivers, and customers")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per system (median quoted)")
    parser.add_argument("--quick", action="store_true", help="small smoke run: 100k/20k/20k rows, 1 repeat")
    parser.add_argument(
        "--systems", default=",".join(ALL_SYSTEMS), help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}"
    )
    parser.add_argument("--skip-feast", action="store_true", help="leave Feast out")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per measured run")
    parser.add_argument("--feast-timeout", type=float, default=1800.0, help="seconds allowed per Feast run")
    parser.add_argument(
        "--once-over",
        type=float,
        default=60.0,
        help="a system whose first run takes longer than this many seconds is not repeated",
    )
    parser.add_argument(
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


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _feast_version(python: Path) -> str | None:
    probe = "import feast.version, feast.infra.offline_stores.duckdb; print(feast.version.get_version())"
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_feast_venv() -> tuple[Path | None, str]:
    """The Feast virtualenv's python (created and installed once, then reused), or None and why not."""
    python = _venv_python(FEAST_VENV)
    if python.exists() and _feast_version(python):
        return python, ""
    print(f"installing {FEAST_REQUIREMENT} into {FEAST_VENV} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", FEAST_REQUIREMENT],
            check=True,
            timeout=1800,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        return None, f"installing Feast failed: {(exc.stderr or '').strip()[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"installing Feast failed: {exc}"
    if not _feast_version(python):
        return None, "Feast installed but `import feast.infra.offline_stores.duckdb` fails"
    return python, ""


# ------------------------------------------------------------------------------------------- measuring


def _command(system: str, job: Job, feast_python: Path | None) -> list[str]:
    if system.startswith("feast-"):
        assert feast_python is not None
        return [str(feast_python), str(BENCH_DIR / "ts_feast_worker.py"), job.to_json()]
    return [sys.executable, str(BENCH_DIR / "ts_worker.py"), job.to_json()]


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_once(system: str, job: Job, feast_python: Path | None, timeout: float) -> dict[str, float] | str:
    """One measured run in a fresh subprocess: its RESULT line as a dict, or why it failed."""
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR), "FEAST_USAGE": "False"}
    try:
        done = subprocess.run(
            _command(system, job, feast_python),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=job.scratch,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        return f"exit code {done.returncode}: {_tail(done.stderr or done.stdout)}"
    result: dict[str, float] = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    return result


def measure(
    systems: list[str], paths: DataPaths, args: argparse.Namespace, feast_python: Path | None
) -> dict[str, Outcome]:
    """Round-robin repetitions; the first repetition of each system also writes its result for checking.

    A system that failed is not retried, and one slower than ``--once-over`` seconds is run once.
    """
    outcomes = {system: Outcome(system) for system in systems}
    repeat = args.repeat
    for rep in range(repeat):
        for system in systems:
            outcome = outcomes[system]
            if outcome.error or (outcome.seconds and outcome.seconds[0] > args.once_over):
                continue
            with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix=f"{system}-") as scratch:
                result_path = str(WORK_DIR / f"result-{system}.parquet") if rep == 0 else None
                job = Job(system, paths.folder, scratch, result_path)
                timeout = args.feast_timeout if system.startswith("feast-") else args.timeout
                result = run_once(system, job, feast_python, timeout)
            if isinstance(result, str):
                outcome.error = result
                print(f"[{rep + 1}/{repeat}] {system}: FAILED: {result}", flush=True)
                continue
            outcome.seconds.append(result["seconds"])
            outcome.cpu_seconds.append(result["cpu_seconds"])
            outcome.rss_mb.append(result["peak_rss_kb"] / 1024)
            outcome.rows = int(result["rows"])
            print(
                f"[{rep + 1}/{repeat}] {system}: {result['seconds']:.2f} s "
                f"(CPU {result['cpu_seconds']:.2f} s), "
                f"peak RSS {outcome.rss_mb[-1]:.0f} MB, {outcome.rows} rows",
                flush=True,
            )
    return outcomes


def check_results(outcomes: dict[str, Outcome]) -> None:
    """Compare every system's first result with the reference (input order; Feast by row id)."""
    reference_path = WORK_DIR / f"result-{REFERENCE}.parquet"
    if outcomes[REFERENCE].error or not reference_path.exists():
        return
    reference = pq.read_table(reference_path)
    for system, outcome in outcomes.items():
        path = WORK_DIR / f"result-{system}.parquet"
        if system == REFERENCE or outcome.error or not path.exists():
            continue
        result = pq.read_table(path)
        compare = compare_by_row_id if system.startswith("feast-") else compare_ordered
        outcome.comparison = compare(result, reference)
        path.unlink()
    reference_path.unlink()


# ------------------------------------------------------------------------------------------- reporting


def _raw_limit(outcomes: dict[str, Outcome]) -> Outcome | None:
    correct = [outcomes[s] for s in RAW_CORRECT if s in outcomes and outcomes[s].seconds]
    return min(correct, key=lambda o: o.median, default=None)


def _check(outcome: Outcome) -> str:
    if outcome.system == REFERENCE:
        return "reference"
    return outcome.comparison.summary() if outcome.comparison else "-"


def _row(outcome: Outcome, entity_rows: int, limit: Outcome | None) -> str:
    label = LABELS[outcome.system]
    if not outcome.seconds:
        return f"| {label} | failed: {outcome.error.splitlines()[0] if outcome.error else '-'} | | | | | | |"
    median, cpu = outcome.median, outcome.median_cpu
    runs = len(outcome.seconds)
    spread = f"{min(outcome.seconds):.2f}-{max(outcome.seconds):.2f}" if runs > 1 else "1 run"
    ratio = f"{median / limit.median:.2f}x" if limit else "-"
    cpu_ratio = f"{cpu / limit.median_cpu:.2f}x" if limit else "-"
    per_second = entity_rows / median / 1000
    return (
        f"| {label} | {median:.2f} ({spread}) | {cpu:.2f} | {per_second:,.0f}k | {ratio} | {cpu_ratio} "
        f"| {max(outcome.rss_mb):,.0f} | {_check(outcome)} |"
    )


def results_table(outcomes: dict[str, Outcome], entity_rows: int) -> str:
    limit = _raw_limit(outcomes)
    header = (
        "| system | median wall s (min-max) | median CPU s | entity rows/s (wall) | vs raw limit (wall) "
        "| vs raw limit (CPU) | peak RSS MB | result vs raw (dedup + ASOF) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    rows = [_row(outcome, entity_rows, limit) for outcome in outcomes.values()]
    lines = [header, *rows]
    if limit:
        lines.append(f"\nRaw limit = the faster correct raw query: {LABELS[limit.system]}.")
    return "\n".join(lines)


def _git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    )
    return done.stdout.strip() or "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float:
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return kb / 1024 / 1024


def machine_line(load_before: float, load_after: float) -> str:
    import duckdb

    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({_cpu_model()}), "
        f"{_memory_gb():.0f} GB RAM, Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"pyarrow {pa.__version__}, featurestore at commit {_git_commit()}; "
        f"1-minute load average {load_before:.2f} before the run and {load_after:.2f} after it"
    )


def sizes_line(sizes: Sizes, repeat: int, once_over: float) -> str:
    return (
        f"driver_stats {sizes.driver_rows:,} rows, customer_profile {sizes.customer_rows:,} rows, "
        f"{sizes.keys:,} drivers and {sizes.keys:,} customers, {sizes.entity_rows:,} entity rows; "
        f"{repeat} repetitions per system, each in a fresh process (a system slower than "
        f"{once_over:.0f} s runs once)"
    )


def write_readme(report: str) -> None:
    text = README.read_text() if README.exists() else ""
    block = f"{RESULTS_START}\n{report}\n{RESULTS_END}"
    if RESULTS_START in text and RESULTS_END in text:
        before = text.split(RESULTS_START, 1)[0]
        after = text.split(RESULTS_END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


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
    feast_python = None
    if any(s.startswith("feast-") for s in systems):
        feast_python, why = ensure_feast_venv()
        if feast_python is None:
            print(f"Feast left out: {why}", flush=True)
            systems = [s for s in systems if not s.startswith("feast-")]
    outcomes = measure(systems, paths, args, feast_python)
    check_results(outcomes)
    table = results_table(outcomes, sizes.entity_rows)
    machine = machine_line(load_before, os.getloadavg()[0])
    report = f"{machine}.\n\nData: {sizes_line(sizes, args.repeat, args.once_over)}.\n\n{table}"
    print("\n" + report)
    for outcome in outcomes.values():
        if outcome.error:
            print(f"\n{outcome.system} failed:\n{outcome.error}")
    if args.readme:
        write_readme(report)
        print(f"\nfigures written to {README.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])

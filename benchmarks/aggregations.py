"""Windowed-aggregation benchmark: featurestore vs a naive DuckDB range join vs pandas rolling windows.

    python benchmarks/aggregations.py            # full size: 10M events, 1M entity rows; updates the README
    python benchmarks/aggregations.py --quick    # small smoke run (does not touch the README)
    python benchmarks/aggregations.py --baseline f75eb0d --no-pandas --no-uniform --scaling "" --no-readme
                                                 # featurestore now vs at a commit, runs interleaved

The job: for each entity row (customer, t), count / sum / max of ``amount`` over the customer's events in
``(t - w, t]`` for w in 1h, 1d, 7d, 30d (12 aggregates), one row per entity row in input order. Data:
``aggbench/agg_data.py``; the systems: ``aggbench/agg_worker.py``. Every measured run is a fresh
subprocess (its peak RSS is its own); repetitions go round-robin so background load hits systems alike.
Feast is not a system here: its offline stores cannot compute windowed aggregations point-in-time (a
Feast user computes them upstream, e.g. with pandas, which is what the ``pandas`` system does).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path[:0] = [str(BENCH_DIR / "aggbench"), str(BENCH_DIR / "tsbench")]

import pyarrow.parquet as pq  # noqa: E402
from agg_data import Sizes, ensure_data  # noqa: E402
from ts_env import featurestore_code  # noqa: E402

WORK_DIR = BENCH_DIR / ".work"
README = BENCH_DIR / "README.md"
START, END = "<!-- aggregations:start -->", "<!-- aggregations:end -->"
LABELS = {
    "ours": "featurestore (`get_training_set`)",
    "baseline": "featurestore at the baseline commit",
    "naive": "DuckDB range join (hand-written)",
    "pandas": "pandas `groupby().rolling()`",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--events", type=int, default=10_000_000)
    add("--entity-rows", type=int, default=1_000_000)
    add("--keys", type=int, default=100_000, help="distinct customers")
    add("--skew", type=float, default=1.5, help="Pareto shape of the customers' activity (0: uniform)")
    add("--scaling", default="1000000,5000000", help="smaller event counts for the growth table")
    add("--no-pandas", action="store_true", help="leave pandas out of the main job")
    add("--pandas-events", default="", help="also run pandas sized down at these event counts (extrapolated)")
    add("--repeat", type=int, default=3)
    add("--once-over", type=float, default=60.0, help="a system slower than this (s) runs once")
    add("--timeout", type=float, default=1800.0, help="seconds allowed per run")
    add("--no-uniform", action="store_true", help="skip the uniform-keys comparison")
    add("--working-tree", action="store_true", help="run featurestore from the working tree, not HEAD")
    add(
        "--baseline",
        default="",
        help="also run featurestore at this git revision in the main job (before/after)",
    )
    add(
        "--memory-limit",
        default="4GB",
        help="DuckDB's memory limit for featurestore ([offline] memory_limit) and the range join",
    )
    add("--quick", action="store_true", help="200k events, 20k entity rows, 1 repetition")
    add("--readme", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "benchmarks/aggregations.py", *argv])
    if args.quick:
        args.events, args.entity_rows, args.keys, args.repeat = 200_000, 20_000, 5_000, 1
        args.scaling = "50000,100000"
    if args.readme is None:
        args.readme = not args.quick
    return args


@dataclass
class Outcome:
    system: str
    sizes: Sizes
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def summary(self) -> str:
        if self.error:
            return f"FAILED: {self.error}"
        spread = f" ({min(self.seconds):.1f}-{max(self.seconds):.1f})" if len(self.seconds) > 1 else ""
        rate = self.sizes.entity_rows / self.median
        return (f"{self.median:.1f} s{spread}, CPU {statistics.median(self.cpu):.1f} s, "
                f"{rate / 1000:.0f}k rows/s, peak RSS {max(self.rss_mb):.0f} MB")  # fmt: skip


def baseline_env(env: dict[str, str], revision: str) -> tuple[dict[str, str], str]:
    """``env`` importing featurestore as of ``revision`` (extracted once under the work folder)."""
    repo = BENCH_DIR.parent
    resolved = subprocess.run(
        ["git", "rev-parse", "--short", revision], capture_output=True, text=True, cwd=repo
    )
    if resolved.returncode != 0:
        raise SystemExit(
            f"--baseline {revision!r} is not a git revision of {repo}: {resolved.stderr.strip()}"
        )
    commit = resolved.stdout.strip()
    target = WORK_DIR / f"featurestore-{commit}"
    if not (target / "featurestore" / "__init__.py").exists():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, "featurestore"], capture_output=True, cwd=repo
        )
        if archive.returncode != 0:
            raise SystemExit(f"git archive {commit} failed: {archive.stderr.decode().strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
    return {**env, "PYTHONPATH": f"{target}:{repo}"}, commit


def run_once(
    system: str, folder: Path, env: dict[str, str], args: argparse.Namespace, result: Path | None
) -> dict | str:
    with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix=f"{system}-") as scratch:
        job = {
            "system": "ours" if system == "baseline" else system,  # the same job, older code
            "data": str(folder),
            "scratch": scratch,
            "result": str(result) if result else None,
            "memory_limit": args.memory_limit,
        }
        command = [sys.executable, str(BENCH_DIR / "aggbench" / "agg_worker.py"), json.dumps(job)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=args.timeout, env=env, cwd=scratch
            )
        except subprocess.TimeoutExpired:
            return f"timed out after {args.timeout:.0f} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return f"exit code {done.returncode}: " + " | ".join(
            (done.stderr or done.stdout).strip().splitlines()[-3:]
        )
    parsed: dict = json.loads(lines[-1].removeprefix("RESULT "))
    return parsed


def measure(
    systems: list[str],
    sizes: Sizes,
    args: argparse.Namespace,
    env: dict[str, str],
    envs: dict[str, dict[str, str]] | None = None,
) -> dict[str, Outcome]:
    folder = ensure_data(WORK_DIR, sizes)
    outcomes = {s: Outcome(s, sizes) for s in systems}
    for rep in range(args.repeat):
        for system in systems:
            outcome = outcomes[system]
            if outcome.error or (outcome.seconds and outcome.seconds[0] > args.once_over):
                continue
            result_path = WORK_DIR / f"result-{system}.parquet" if rep == 0 else None
            got = run_once(system, folder, (envs or {}).get(system, env), args, result_path)
            if isinstance(got, str):
                outcome.error = got
            else:
                outcome.seconds.append(got["seconds"])
                outcome.cpu.append(got["cpu_seconds"])
                outcome.rss_mb.append(got["peak_rss_mb"])
            print(f"  {sizes.events:>10,} events, {system:6}: {outcome.summary()}", flush=True)
    return outcomes


def mismatches(system: str, reference: str = "naive") -> str:
    """Values that differ from the reference's (null equals null; floats to a relative 1e-9)."""
    import pyarrow.compute as pc

    a_path, b_path = WORK_DIR / f"result-{system}.parquet", WORK_DIR / f"result-{reference}.parquet"
    if not a_path.exists() or not b_path.exists():
        return "not checked"
    a, b = pq.read_table(a_path), pq.read_table(b_path)
    if a.num_rows != b.num_rows or a.column_names != b.column_names:
        return f"shape {a.num_rows}x{a.num_columns} vs {b.num_rows}x{b.num_columns}"
    bad = 0
    for name in b.column_names:
        x, y = pc.cast(a.column(name), "float64"), pc.cast(b.column(name), "float64")
        both_null = pc.and_(pc.is_null(x), pc.is_null(y))
        scale = pc.max_element_wise(pc.abs(x), pc.abs(y))
        close = pc.less_equal(pc.abs(pc.subtract(x, y)), pc.max_element_wise(pc.multiply(scale, 1e-9), 1e-9))
        same = pc.or_kleene(both_null, pc.fill_null(close, False))
        bad += b.num_rows - pc.sum(pc.cast(same, "int64")).as_py()
    return f"{bad} of {b.num_rows * b.num_columns:,} values differ"


def clear_results() -> None:
    for path in WORK_DIR.glob("result-*.parquet"):
        path.unlink()


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    WORK_DIR.mkdir(exist_ok=True)
    code = featurestore_code(BENCH_DIR.parent, WORK_DIR, args.working_tree)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ":".join(p for p in [str(code.path) if code.path else "", str(BENCH_DIR.parent)] if p)
    load = os.getloadavg()[0]
    print(f"featurestore from {code.label}; load average {load:.1f}", flush=True)
    main_sizes = Sizes(args.events, args.entity_rows, args.keys, args.skew)
    lines: dict[str, tuple[dict[str, Outcome], str]] = {}

    print(
        f"main job: {main_sizes.events:,} events, {main_sizes.entity_rows:,} entity rows, skew {args.skew:g}"
    )
    clear_results()
    envs = {}
    if args.baseline:
        envs["baseline"], commit = baseline_env(env, args.baseline)
        LABELS["baseline"] = f"featurestore at {commit} (`--baseline`)"
    systems = [
        "ours",
        *(["baseline"] if args.baseline else []),
        "naive",
        *([] if args.no_pandas else ["pandas"]),
    ]
    main_runs = measure(systems, main_sizes, args, env, envs)
    lines["main"] = (main_runs, mismatches("ours"))
    pandas_check = "" if args.no_pandas else mismatches("pandas")
    baseline_check = mismatches("baseline") if args.baseline else ""

    pandas_runs = []
    for events in [int(x) for x in args.pandas_events.split(",") if x]:
        sizes = Sizes(events, max(1, args.entity_rows * events // args.events), args.keys, args.skew)
        clear_results()
        print(f"pandas at {events:,} events, {sizes.entity_rows:,} entity rows")
        runs = measure(["pandas", "ours", "naive"], sizes, args, env)
        pandas_runs.append((sizes, runs, mismatches("pandas"), mismatches("ours")))

    growth = []
    for events in [int(x) for x in args.scaling.split(",") if x]:
        sizes = Sizes(events, args.entity_rows, args.keys, args.skew)
        clear_results()
        print(f"growth: {events:,} events, {sizes.entity_rows:,} entity rows")
        growth.append((sizes, measure(["ours", "naive"], sizes, args, env)))
    growth.append((main_sizes, main_runs))

    uniform = None
    if not args.no_uniform:
        sizes = Sizes(args.events, args.entity_rows, args.keys, 0.0)
        clear_results()
        print(f"uniform keys: {sizes.events:,} events, {sizes.entity_rows:,} entity rows")
        uniform = (measure(["ours", "naive"], sizes, args, env), mismatches("ours"))
    clear_results()

    checks = (lines["main"][1], pandas_check, baseline_check)
    text = report(args, code.label, load, main_runs, checks, pandas_runs, growth, uniform)
    print(text)
    if args.readme:
        write_readme(text)


def report(
    args: argparse.Namespace,
    label: str,
    load: float,
    runs: dict[str, Outcome],
    checks: tuple[str, str, str],
    pandas_runs: list[tuple[Sizes, dict[str, Outcome], str, str]],
    growth: list[tuple[Sizes, dict[str, Outcome]]],
    uniform: tuple[dict[str, Outcome], str] | None,
) -> str:
    sizes = runs["ours"].sizes
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"Run {when}, {os.cpu_count()} CPUs, load average {load:.1f} at the start, "
        f"featurestore from {label}, DuckDB memory_limit {args.memory_limit}.",
        f"Command: `{args.command}`",
        "",
        f"**{sizes.events:,} events, {sizes.entity_rows:,} entity rows, {sizes.keys:,} customers "
        f"(Pareto {args.skew:g}), 4 windows x 3 functions** (median of up to {args.repeat} runs, wall "
        "time; rows/s = entity rows per second):",
        "",
        "| system | time | CPU | entity rows/s | peak RSS | result |",
        "|---|---|---|---|---|---|",
        _row(LABELS["ours"], runs["ours"], checks[0]),
        *([_row(LABELS["baseline"], runs["baseline"], checks[2])] if "baseline" in runs else []),
        _row(LABELS["naive"], runs["naive"], "reference"),
    ]
    if "pandas" in runs:
        out.append(_row(LABELS["pandas"], runs["pandas"], checks[1]))
    if pandas_runs:
        guess = _pandas_extrapolation(pandas_runs, sizes)
        out.append(f"| {LABELS['pandas']}, extrapolated | ≈ {guess} | | | | see below |")
    out.append("| Feast 0.67 (any offline store) | cannot: no windowed aggregation point-in-time | | | | |")
    if pandas_runs:
        out += ["", "pandas, sized down (the same job, fewer events and entity rows), beside the others:", ""]
        out.append(
            "| events | entity rows | pandas | featurestore | range join | pandas result | ours result |"
        )
        out.append("|---|---|---|---|---|---|---|")
        for psizes, pruns, pcheck, ocheck in pandas_runs:
            cells = " | ".join(_cell(pruns[s]) for s in ("pandas", "ours", "naive"))
            out.append(f"| {psizes.events:,} | {psizes.entity_rows:,} | {cells} | {pcheck} | {ocheck} |")
    out += ["", f"Growth with events ({sizes.entity_rows:,} entity rows throughout):", ""]
    out += ["| events | featurestore | range join |", "|---|---|---|"]
    for gsizes, gruns in growth:
        out.append(f"| {gsizes.events:,} | {_cell(gruns['ours'])} | {_cell(gruns['naive'])} |")
    if uniform is not None:
        uruns, ucheck = uniform
        out += ["", f"Uniform customers (all equally active), {sizes.events:,} events:", ""]
        out += ["| system | time | CPU | entity rows/s | peak RSS | result |", "|---|---|---|---|---|---|"]
        out.append(_row(LABELS["ours"], uruns["ours"], ucheck))
        out.append(_row(LABELS["naive"], uruns["naive"], "reference"))
    return "\n".join(out) + "\n"


def _row(name: str, outcome: Outcome, result: str) -> str:
    if outcome.error:
        return f"| {name} | failed: {outcome.error[:80]} | | | | |"
    n = len(outcome.seconds)
    runs = f"{n} run{'s' if n > 1 else ''}"
    rate = outcome.sizes.entity_rows / outcome.median / 1000
    cpu = statistics.median(outcome.cpu)
    rss = max(outcome.rss_mb)
    return (
        f"| {name} | {outcome.median:.1f} s ({runs}) | {cpu:.1f} s | {rate:.0f}k | {rss:.0f} MB | {result} |"
    )


def _cell(outcome: Outcome) -> str:
    if outcome.error:
        return f"failed ({outcome.error[:40]})"
    return f"{outcome.median:.1f} s, {max(outcome.rss_mb):.0f} MB"


def _pandas_extrapolation(pandas_runs: list[tuple[Sizes, dict[str, Outcome], str, str]], sizes: Sizes) -> str:
    points = [
        (s.events + s.entity_rows, r["pandas"].median, max(r["pandas"].rss_mb))
        for s, r, _, _ in pandas_runs
        if not r["pandas"].error
    ]
    if not points:
        return "failed"
    target = sizes.events + sizes.entity_rows
    if len(points) == 1:
        n, t, mb = points[0]
        return f"{t * target / n:.0f} s, {mb * target / n / 1024:.1f} GB (linear from {n:,} rows)"
    (n1, t1, m1), (n2, t2, m2) = points[0], points[-1]
    time_at = t2 + (t2 - t1) / (n2 - n1) * (target - n2)
    rss_at = m2 + (m2 - m1) / (n2 - n1) * (target - n2)
    return f"{time_at:.0f} s, {rss_at / 1024:.1f} GB (a line through the sized-down runs)"


def write_readme(text: str) -> None:
    readme = README.read_text()
    if START not in readme:
        raise SystemExit(f"{README} has no {START} marker: add the aggregations section first")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}{END}{tail}")
    print(f"wrote the figures into {README}")


if __name__ == "__main__":
    main(sys.argv[1:])

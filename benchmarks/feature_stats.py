"""Statistics benchmark: what profiling every materialization run costs, and the raw limits beside it.

    .venv/bin/python benchmarks/feature_stats.py           # 100k drivers x 2 views (200k entity-values)
    .venv/bin/python benchmarks/feature_stats.py --quick   # 5k drivers, README untouched

Uses the online benchmark's data and repo (benchmarks/online.py: two views, 8 features of every kind:
floats, ints, strings, a boolean) with a private redis-server, and the embedded SQLite store beside it.
Measured in one run, alternating, medians of ``--repeat``:

* ``materialize`` with ``[materialize] statistics = true`` (the default) and ``= false``: wall and this
  process's CPU time; the ratio is the cost of statistics (target: at most 1.20x);
* the profiling alone, as the run reports it (``ViewRun.profile_seconds``);
* raw limits for the statistics: ``Profiler.update`` over the same latest rows already in memory, and one
  hand-written DuckDB aggregate over them (count, nulls, min, max, avg, stddev, ``approx_quantile``,
  ``approx_count_distinct``) - what a per-run SQL profile costs without sketches that merge across runs.

Feast 0.67 keeps no statistics per materialization (its data-quality module profiles a saved dataset
with Great Expectations, on request), so there is no Feast column. Figures go to benchmarks/README.md
(section "Feature statistics").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path += [str(BENCH_DIR), str(BENCH_DIR / "tsbench")]

from online import (  # noqa: E402
    anchor_time,
    ensure_data,
    process_cpu,
    redis_server,
    write_repo,
)
from online_spec import VIEWS  # noqa: E402

README = BENCH_DIR / "README.md"
SECTION_TITLE = "## Feature statistics"
RESULTS_START = "<!-- statistics:start -->"
RESULTS_END = "<!-- statistics:end -->"


def set_store(repo: Path, port: int, kind: str, statistics_on: bool) -> None:
    """Point the repo at Redis or SQLite, statistics on or off (rewrites featurestore.toml)."""
    online = f'type = "redis"\nurl = "redis://127.0.0.1:{port}/0"' if kind == "redis" else 'type = "sqlite"'
    (repo / "featurestore.toml").write_text(
        f'project = "statsbench"\n\n[online]\n{online}\n\n[materialize]\n'
        f"statistics = {'true' if statistics_on else 'false'}\n"
    )


def run_once(repo: Path, end: datetime) -> dict[str, float]:
    from featurestore import FeatureStore

    with FeatureStore(repo) as store:
        cpu, began = process_cpu(), time.perf_counter()
        summary = store.materialize(end=end)
        seconds, cpu = time.perf_counter() - began, process_cpu() - cpu
    return {
        "seconds": seconds,
        "cpu": cpu,
        "profile": sum(r.profile_seconds for r in summary.runs),
        "written": float(summary.entities_written),
    }


def latest_rows(repo: Path, end: datetime) -> dict[str, Any]:
    """Each view's latest rows, as the materialization computes them (to time the raw limits on)."""
    from featurestore import FeatureStore
    from featurestore.materialize.run import strategy_for
    from featurestore.materialize.strategy import Reads, ViewRequest

    out = {}
    with FeatureStore(repo) as store:
        registry = store.registry
        reads = Reads(store.engine, repo, store.config.materialize.lookback)
        for view in VIEWS:
            rv = registry.view(view.name)
            job = strategy_for(rv, reads).plan(ViewRequest(rv, None, end, False, None))
            import pyarrow as pa

            out[view.name] = pa.Table.from_batches(list(job.batches(100_000)))
    return out


def raw_limits(tables: dict[str, Any], repeat: int) -> dict[str, float]:
    import duckdb

    from featurestore.stats import Profiler

    profiler_times, sql_times = [], []
    for _ in range(repeat):
        began = time.perf_counter()
        for view in VIEWS:
            profiler = Profiler(dict(view.features))
            profiler.update(tables[view.name])
            profiler.profiles()
        profiler_times.append(time.perf_counter() - began)
        con = duckdb.connect()
        began = time.perf_counter()
        for view in VIEWS:
            con.register("t", tables[view.name])
            parts = []
            for name, dtype in view.features:
                q = f'"{name}"'
                parts.append(f"count({q}), approx_count_distinct({q})")
                if dtype not in ("string", "bool"):
                    quartiles = f"approx_quantile({q}, [0.25, 0.5, 0.75])"
                    parts.append(f"min({q}), max({q}), avg({q}), stddev_samp({q}), {quartiles}")
            con.execute(f"SELECT count(*), {', '.join(parts)} FROM t").fetchall()
            con.unregister("t")
        sql_times.append(time.perf_counter() - began)
        con.close()
    return {"profiler": statistics.median(profiler_times), "sql": statistics.median(sql_times)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5k drivers; README untouched")
    parser.add_argument("--drivers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    drivers = args.drivers or (5_000 if args.quick else 100_000)
    anchor = anchor_time()
    paths = ensure_data(drivers, 7, anchor)
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as port:
        repo = Path(tmp) / "repo"
        write_repo(repo, paths, port)
        from featurestore import FeatureStore

        for kind in ("redis", "sqlite"):
            set_store(repo, port, kind, True)
            with FeatureStore(repo) as store:
                store.apply()
            run_once(repo, anchor)  # warm-up: data files cached, namespaces created
            results[kind] = {"on": [], "off": []}
            for i in range(args.repeat * 2):
                on = i % 2 == 0
                set_store(repo, port, kind, on)
                results[kind]["on" if on else "off"].append(run_once(repo, anchor))
        tables = latest_rows(repo, anchor)
        limits = raw_limits(tables, args.repeat)
    rows = sum(t.num_rows for t in tables.values())
    lines = [
        f"{drivers:,} drivers x {len(VIEWS)} views ({rows:,} entity rows, "
        f"{sum(len(v.features) for v in VIEWS)} features), medians of {args.repeat}, alternating runs:",
        "",
        "| online store | materialize, statistics off | statistics on | ratio wall | ratio CPU "
        "| profiling in the run |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for kind, runs in results.items():
        off = {k: statistics.median(r[k] for r in runs["off"]) for k in ("seconds", "cpu")}
        on = {k: statistics.median(r[k] for r in runs["on"]) for k in ("seconds", "cpu", "profile")}
        wall, cpu = on["seconds"] / off["seconds"], on["cpu"] / off["cpu"]
        lines.append(
            f"| {kind} | {off['seconds'] * 1000:,.0f} ms ({off['cpu']:.2f} CPU-s) "
            f"| {on['seconds'] * 1000:,.0f} ms ({on['cpu']:.2f} CPU-s) | {wall:.2f}x | {cpu:.2f}x "
            f"| {on['profile'] * 1000:,.0f} ms |"
        )
    lines += [
        "",
        f"Raw limits on the same {rows:,} rows in memory: `Profiler.update` alone "
        f"{limits['profiler'] * 1000:,.0f} ms; one hand-written DuckDB aggregate (moments, "
        f"`approx_quantile`, "
        f"`approx_count_distinct`; no mergeable sketches) {limits['sql'] * 1000:,.0f} ms.",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.quick:
        write_readme(report)


def write_readme(report: str) -> None:
    import platform

    text = README.read_text()
    block = (
        f"{RESULTS_START}\n`.venv/bin/python benchmarks/feature_stats.py` "
        f"({datetime.now():%Y-%m-%d}, {platform.machine()}, {__import__('os').cpu_count()} cores)\n\n"
        f"{report}\n{RESULTS_END}"
    )
    if RESULTS_START in text:
        head, rest = text.split(RESULTS_START, 1)
        text = head + block + rest.split(RESULTS_END, 1)[1]
    else:
        text += f"\n{SECTION_TITLE}\n\n{block}\n"
    README.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])

"""One measured run of one system, in its own process (so its peak RSS is its own).

    python benchmarks/aggbench/agg_worker.py '{"system": "ours", "data": "...", "scratch": "...", ...}'

Systems: ``ours`` (the public API), ``naive`` (a hand-written DuckDB range join), ``pandas`` (what a Feast
user writes: ``groupby().rolling()`` over events and entity rows together). Each computes, for every
entity row, count / sum / max of ``amount`` over the events of its customer in ``(t - w, t]`` for
w in 1h, 1d, 7d, 30d, one row per entity row in input order. Prints ``RESULT {json}``; with
``result`` set, also writes the output table there (for the cross-check).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WINDOWS = {"1h": 3600, "1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
FUNCTIONS = ("count", "sum", "max")
COLUMNS = [f"amount_{f}_{w}" for w in WINDOWS for f in FUNCTIONS]
MEMORY_LIMIT = "4GB"  # DuckDB's memory limit unless the job sets ``memory_limit``


def ours(data: Path, scratch: Path, memory_limit: str = MEMORY_LIMIT) -> Callable[[], pa.Table]:
    """A repo holding one aggregation view over the events; apply is setup, the training set is timed."""
    from featurestore import FeatureStore

    repo = scratch / "repo"
    (repo / "definitions").mkdir(parents=True)
    aggs = "".join(
        f"        Aggregation('amount', {f!r}, timedelta(seconds={s})),\n"
        for s in WINDOWS.values()
        for f in FUNCTIONS
    )
    (repo / "definitions" / "bench.py").write_text(
        "from datetime import timedelta\n"
        "from featurestore import Aggregation, Entity, FeatureView, FileSource\n"
        "customer = Entity(name='customer', join_keys=['customer_id'])\n"
        "payments = FeatureView(\n"
        "    name='payments', entities=[customer],\n"
        f"    source=FileSource(name='events', path='{data / 'events.parquet'}'),\n"
        f"    aggregations=[\n{aggs}    ],\n"
        ")\n"
    )
    (repo / "featurestore.toml").write_text(f'[offline]\nmemory_limit = "{memory_limit}"\n')
    store = FeatureStore(repo)
    store.apply()
    refs = [f"payments:{c}" for c in COLUMNS]
    entities = str(data / "entities.parquet")
    return lambda: store.get_training_set(entities, refs).to_arrow().select(COLUMNS)


def naive(data: Path, scratch: Path, memory_limit: str = MEMORY_LIMIT) -> Callable[[], pa.Table]:
    """Every entity row joined to its customer's events of the last 30 days, then filtered aggregates."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{scratch / 'tmp'}'")
    con.execute("SET preserve_insertion_order = false")
    aggs = []
    for w, seconds in WINDOWS.items():
        inside = f"v.event_timestamp > e.event_timestamp - INTERVAL {seconds} SECOND"
        aggs += [
            f"count(v.amount) FILTER ({inside}) AS amount_count_{w}",
            f"sum(v.amount) FILTER ({inside}) AS amount_sum_{w}",
            f"max(v.amount) FILTER ({inside}) AS amount_max_{w}",
        ]
    sql = f"""
        WITH e AS (SELECT customer_id, event_timestamp, file_row_number AS row_id
                   FROM read_parquet('{data / "entities.parquet"}', file_row_number = true)),
        v AS (SELECT customer_id, event_timestamp, amount FROM read_parquet('{data / "events.parquet"}'))
        SELECT {", ".join(aggs)}
        FROM e LEFT JOIN v ON v.customer_id = e.customer_id AND v.event_timestamp <= e.event_timestamp
             AND v.event_timestamp > e.event_timestamp - INTERVAL {max(WINDOWS.values())} SECOND
        GROUP BY e.row_id ORDER BY e.row_id
    """
    return lambda: con.sql(sql).to_arrow_table()


def pandas_rolling(data: Path, scratch: Path, memory_limit: str = MEMORY_LIMIT) -> Callable[[], pa.Table]:
    """Entity rows as probe rows among the events (after them on equal times), per customer in time
    order, ``rolling(w, closed="right")`` for each window, then the probe rows back in input order.
    Reading the Parquet files into pandas is setup; ``memory_limit`` does not apply."""
    import numpy as np
    import pandas as pd

    events = pq.read_table(data / "events.parquet").to_pandas()
    entities = pq.read_table(data / "entities.parquet").to_pandas()

    def run() -> pa.Table:
        probes = entities.assign(amount=np.nan, row_id=np.arange(len(entities)), probe=1)
        frame = pd.concat([events.assign(row_id=-1, probe=0), probes], ignore_index=True)
        frame = frame.sort_values(
            ["customer_id", "event_timestamp", "probe"], kind="stable", ignore_index=True
        )
        grouped = frame.groupby("customer_id", sort=False)
        is_probe = frame["probe"].to_numpy() == 1
        out = {}
        for w, seconds in WINDOWS.items():
            rolling = grouped.rolling(f"{seconds}s", on="event_timestamp", closed="right")["amount"]
            for f in FUNCTIONS:
                values = getattr(rolling, f)().to_numpy()  # rows in frame order: groups are contiguous
                out[f"amount_{f}_{w}"] = values[is_probe]
        order = np.argsort(frame["row_id"].to_numpy()[is_probe])
        table = pa.table({name: pa.array(values[order], from_pandas=True) for name, values in out.items()})
        counts = [pa.compute.cast(table[c], pa.int64()) for c in COLUMNS if "_count_" in c]
        for name, column in zip([c for c in COLUMNS if "_count_" in c], counts, strict=True):
            table = table.set_column(table.column_names.index(name), name, column)
        return table.select(COLUMNS)

    return run


SYSTEMS = {"ours": ours, "naive": naive, "pandas": pandas_rolling}


def peak_rss_mb() -> float:
    """This process's own high-water RSS. Not ``ru_maxrss``: Linux carries that over from the parent
    across fork + exec, so it would report the benchmark driver's size when that is larger."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    job = json.loads(argv[1])
    data, scratch = Path(job["data"]), Path(job["scratch"])
    run = SYSTEMS[job["system"]](data, scratch, job.get("memory_limit") or MEMORY_LIMIT)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, start = usage.ru_utime + usage.ru_stime, time.perf_counter()
    table = run()
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu,
        "peak_rss_mb": peak_rss_mb(),
        "rows": table.num_rows,
    }
    if job.get("result"):
        pq.write_table(table, job["result"])
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)

"""The raw pipeline the online benchmark compares materialization with, and the expected values.

A hand-written latest-value DuckDB query per view (``QUALIFY row_number() ...``) that also builds the
Redis key, the null bits and the string lengths in SQL; the rows are packed in Python with one
``struct.Struct`` per view, in featurestore's value layout (``featurestore/online/codec.py``: event time,
null bits, fixed-width features in declared order, one uint32 length per string, the string bytes), so
featurestore's SDK reads what this pipeline writes; then written through a redis-py pipeline
(``transaction=False``), one round trip per batch: either ``MSET`` of 1,000 keys per command (no expiry,
no newer-wins check: the limit), or one ``SET key value PXAT expiry`` per key (the expiry featurestore
also sets). Imports only duckdb, pyarrow and redis-py.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from online_spec import CREATED, KEY, TIMESTAMP, ViewSpec

BATCH_ROWS = 100_000
MSET_KEYS = 1_000
_FIXED = {"float64": "d", "int64": "q"}
LATEST = "QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {ts} DESC, {created} DESC) = 1"


@dataclass
class RawRun:
    """What one raw materialization did, with the time spent in each stage (they run one after another)."""

    written: int = 0
    query_s: float = 0.0
    pack_s: float = 0.0
    write_s: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


def _bitmap_code(n: int) -> str:
    return next(code for limit, code in ((8, "B"), (16, "H"), (32, "I"), (64, "Q")) if n <= limit)


def latest_sql(view: ViewSpec, path: str, end: datetime, prefix: str, with_expiry: bool) -> str:
    """Key, event time (us), null bits, fixed features (nulls as 0), string lengths, strings (as BLOB)."""
    nulls = " | ".join(
        f"(CASE WHEN {name} IS NULL THEN {1 << i} ELSE 0 END)" for i, (name, _) in enumerate(view.features)
    )
    fixed = [f"coalesce({name}, 0) AS {name}" for name, dtype in view.features if dtype in _FIXED]
    strings = [name for name, dtype in view.features if dtype == "string"]
    lengths = [f"octet_length(coalesce(encode({name}), ''::BLOB)) AS {name}__len" for name in strings]
    blobs = [f"coalesce(encode({name}), ''::BLOB) AS {name}__bytes" for name in strings]
    ttl_us = view.ttl_days * 86_400_000_000
    expiry = [f"CAST(ceil((epoch_us({TIMESTAMP}) + {ttl_us}) / 1000) AS BIGINT) AS expire_ms"]
    if not with_expiry:
        expiry = []
    columns = ",\n  ".join(
        [
            f"'{prefix}i' || {KEY} || '}}' AS key",
            f"epoch_us({TIMESTAMP}) AS ts",
            f"({nulls}) AS nulls",
            *fixed,
            *lengths,
            *blobs,
            *expiry,
        ]
    )
    return (
        f"SELECT\n  {columns}\nFROM read_parquet('{path}')\n"
        f"WHERE {TIMESTAMP} <= TIMESTAMP '{end:%Y-%m-%d %H:%M:%S.%f}' AND {KEY} IS NOT NULL\n"
        + LATEST.format(key=KEY, ts=TIMESTAMP, created=CREATED)
    )


def value_struct(view: ViewSpec) -> struct.Struct:
    fixed = "".join(_FIXED[dtype] for _, dtype in view.features if dtype in _FIXED)
    strings = sum(1 for _, dtype in view.features if dtype == "string")
    return struct.Struct("<q" + _bitmap_code(len(view.features)) + fixed + "I" * strings)


def materialize_raw(
    client: Any,
    views: list[tuple[ViewSpec, str, str]],
    end: datetime,
    *,
    mode: str,
    threads: int | None = None,
) -> RawRun:
    """Write the latest value of every driver of every view; ``views``: (spec, parquet path, key prefix).

    ``mode``: ``mset`` (MSET of MSET_KEYS keys per command) or ``set-pxat`` (SET ... PXAT per key).
    """
    import duckdb

    run = RawRun()
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    try:
        for view, path, prefix in views:
            packer = value_struct(view)
            n_strings = sum(1 for _, dtype in view.features if dtype == "string")
            began = time.perf_counter()
            reader = con.sql(latest_sql(view, path, end, prefix, mode == "set-pxat")).to_arrow_reader(
                BATCH_ROWS
            )
            run.query_s += time.perf_counter() - began
            while True:
                began = time.perf_counter()
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    run.query_s += time.perf_counter() - began
                    break
                cols = [c.to_pylist() for c in batch.columns]
                run.query_s += time.perf_counter() - began

                began = time.perf_counter()
                keys = cols[0]
                expire = cols[-1] if mode == "set-pxat" else None
                body = cols[: len(cols) - (1 if expire is not None else 0)]
                heads = body[1 : len(body) - n_strings]
                blobs = body[len(body) - n_strings :]
                values = list(map(packer.pack, *heads))
                for blob in blobs:
                    values = [v + b for v, b in zip(values, blob, strict=True)]
                run.pack_s += time.perf_counter() - began

                began = time.perf_counter()
                with client.pipeline(transaction=False) as pipe:
                    if expire is None:
                        for start in range(0, len(keys), MSET_KEYS):
                            stop = start + MSET_KEYS
                            pipe.mset(dict(zip(keys[start:stop], values[start:stop], strict=True)))
                    else:
                        for key, value, at in zip(keys, values, expire, strict=True):
                            pipe.set(key, value, pxat=at)
                    pipe.execute()
                run.write_s += time.perf_counter() - began
                run.written += len(keys)
    finally:
        con.close()
    return run


def expected_values(views: list[tuple[ViewSpec, str]], end: datetime, ids: list[int]) -> dict[int, list[Any]]:
    """The latest value of every feature (in REFS order) for ``ids``, straight from DuckDB."""
    import duckdb

    con = duckdb.connect()
    out: dict[int, list[Any]] = {i: [] for i in ids}
    try:
        for view, path in views:
            names = ", ".join(view.feature_names)
            id_list = ", ".join(str(i) for i in ids)
            rows = con.sql(
                f"SELECT {KEY}, {names} FROM read_parquet('{path}') "
                f"WHERE {TIMESTAMP} <= TIMESTAMP '{end:%Y-%m-%d %H:%M:%S.%f}' AND {KEY} IN ({id_list}) "
                + LATEST.format(key=KEY, ts=TIMESTAMP, created=CREATED)
            ).fetchall()
            found = {row[0]: list(row[1:]) for row in rows}
            for i in ids:
                out[i] += found.get(i, [None] * len(view.features))
    finally:
        con.close()
    return out

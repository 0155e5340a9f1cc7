"""Write batches: an Arrow batch of latest values -> encoded keys, timestamps, expiries and packed values.

Shared by every store, so all of them check and encode a batch the same way. The batch holds the view's
join keys, ``__event_ts`` and every feature (extra columns are ignored). Rows already expired at ``now``
(``event_ts + ttl < now``) are dropped here.

    >>> import pyarrow as pa
    >>> from datetime import datetime, timezone
    >>> from featurestore.online.base import OnlineView
    >>> v = OnlineView(project="p", name="drivers", version="1", join_keys=("driver_id",),
    ...                key_dtypes=("int64",), features=(("rate", "float64"),), ttl=None)
    >>> ts = pa.array([datetime(2024, 1, 1, tzinfo=timezone.utc)], pa.timestamp("us", tz="UTC"))
    >>> rows = encode_batch(v, pa.table({"driver_id": [7], "__event_ts": ts, "rate": [0.5]}), now_us=0)
    >>> rows.keys, rows.event_ts, rows.expire_at_ms
    (['i7'], [1704067200000000], None)
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.dsl.dtypes import arrow_type
from featurestore.errors import OnlineStoreError
from featurestore.online.base import EVENT_TS, OnlineView
from featurestore.online.codec import codec_for

_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class EncodedBatch:
    """The rows of a write batch, ready for a store. All lists have one entry per kept row."""

    keys: list[str]
    """Encoded entity keys (``keys.encode_key``)."""
    event_ts: list[int]
    """Event timestamps, microseconds since the epoch."""
    values: list[bytes]
    """Packed values (``codec``)."""
    expire_at_ms: list[int] | None
    """``event_ts + ttl`` in milliseconds since the epoch, rounded up (a value is valid up to and
    including ``event_ts + ttl``), or ``None`` for a view without ttl. Kept rows expire after ``now``."""

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class EncodedColumns:
    """:class:`EncodedBatch` as Arrow arrays (one entry per kept row), for stores that write in bulk."""

    keys: pa.StringArray
    event_ts: pa.Int64Array
    values: pa.BinaryArray
    expire_at_ms: pa.Int64Array | None
    distinct: bool
    """No entity key appears twice."""

    def __len__(self) -> int:
        return len(self.keys)

    def to_lists(self) -> EncodedBatch:
        return EncodedBatch(
            self.keys.to_pylist(),
            self.event_ts.to_pylist(),
            self.values.to_pylist(),
            None if self.expire_at_ms is None else self.expire_at_ms.to_pylist(),
        )


def encode_batch(view: OnlineView, batch: pa.RecordBatch | pa.Table, *, now_us: int) -> EncodedBatch:
    """Check and encode a write batch for ``view``; raise :class:`OnlineStoreError` naming the problem."""
    return encode_columns(view, batch, now_us=now_us).to_lists()


def encode_columns(view: OnlineView, batch: pa.RecordBatch | pa.Table, *, now_us: int) -> EncodedColumns:
    """:func:`encode_batch` as Arrow arrays, computed with Arrow kernels (no Python loop per row)."""
    if not isinstance(batch, pa.RecordBatch | pa.Table):
        raise OnlineStoreError(
            f"write to view '{view.name}' needs a pyarrow RecordBatch or Table, got {type(batch).__name__}"
        )
    needed = [*view.join_keys, EVENT_TS, *view.feature_names]
    missing = [c for c in needed if c not in batch.schema.names]
    if missing:
        raise OnlineStoreError(
            f"write batch for view '{view.name}' lacks column(s) {', '.join(missing)}; it needs "
            f"{', '.join(needed)} (got {', '.join(batch.schema.names)})"
        )
    ts = _one_chunk(
        _cast(batch.column(EVENT_TS), _TS, EVENT_TS, view, what="event timestamps").cast(pa.int64())
    )
    if ts.null_count:
        raise OnlineStoreError(
            f"write batch for view '{view.name}' has {ts.null_count} null {EVENT_TS} value(s); drop rows "
            "without an event timestamp before writing"
        )
    columns = {name: _one_chunk(batch.column(name)) for name in needed}
    ttl_us = view.ttl_us
    expire: pa.Array | None = None
    if ttl_us is not None:
        expire = pc.add(ts, pa.scalar(ttl_us, pa.int64()))
        keep = pc.greater_equal(expire, pa.scalar(now_us, pa.int64()))
        if not pc.all(keep).as_py():
            columns = {name: pc.filter(col, keep) for name, col in columns.items()}
            ts, expire = pc.filter(ts, keep), pc.filter(expire, keep)

    key_columns = []
    for key, dtype in zip(view.join_keys, view.key_dtypes, strict=True):
        col = columns[key]
        _check_key_type(col.type, key, dtype, view)
        if col.null_count:
            raise OnlineStoreError(
                f"write batch for view '{view.name}' has {col.null_count} null value(s) in join key "
                f"'{key}'; drop rows with null keys before writing"
            )
        key_columns.append(_encoded_key_column(col, key, dtype, view))
    encoded_keys = key_columns[0]
    if len(key_columns) > 1:
        encoded_keys = pc.binary_join_element_wise(*key_columns, pa.scalar("|", pa.string()))
    distinct = _distinct(columns[view.join_keys[0]] if len(view.join_keys) == 1 else encoded_keys)

    features = [
        _cast(columns[name], arrow_type(dtype), name, view, what=f"{dtype} feature")
        for name, dtype in view.features
    ]
    values = codec_for(view.dtypes).encode_arrow(ts, features)
    expire_ms = None
    if expire is not None:  # every kept row expires after now (> 0), so truncating division rounds up here
        expire_ms = pc.divide(pc.add(expire, pa.scalar(999, pa.int64())), pa.scalar(1000, pa.int64()))
    return EncodedColumns(encoded_keys, ts, values, expire_ms, distinct)


def _distinct(col: pa.Array) -> bool:
    """No value appears twice (ints: sorted by numpy, faster than hashing)."""
    if pa.types.is_integer(col.type):
        import numpy as np

        ordered = np.sort(col.to_numpy())
        return bool((ordered[1:] != ordered[:-1]).all())
    return bool(pc.count_distinct(col).as_py() == len(col))


_INT_RANGE = {"int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1)}  # as keys.py checks
_ESCAPES = (("%", "%25"), ("|", "%7C"), ("{", "%7B"), ("}", "%7D"))  # "%" first: keys.encode_value


def _encoded_key_column(col: pa.Array, key: str, dtype: str, view: OnlineView) -> pa.StringArray:
    """One join-key column in ``keys.encode_value``'s text, with Arrow kernels.

    >>> from featurestore.online.keys import encode_value
    >>> v = OnlineView(project="p", name="v", version="1", join_keys=("k",), key_dtypes=("string",),
    ...                features=(("x", "int64"),), ttl=None)
    >>> texts = ["a|b", "%7C", "{x}", "", "é"]
    >>> _encoded_key_column(pa.array(texts), "k", "string", v).to_pylist() == [encode_value(t) for t in texts]
    True
    >>> _encoded_key_column(pa.array([-5, 0, 2**40]), "k", "int64", v).to_pylist()
    ['i-5', 'i0', 'i1099511627776']
    """
    if dtype == "string":
        text = col.cast(pa.string())
        for plain, escaped in _ESCAPES:
            text = pc.replace_substring(text, plain, escaped)
        tag = pa.scalar("s", pa.string())
    else:
        if len(col):
            low, high = _INT_RANGE[dtype]
            bounds = pc.min_max(col)
            if bounds["min"].as_py() < low or bounds["max"].as_py() > high:
                bad = next(i for i, v in enumerate(col.to_pylist()) if not low <= v <= high)
                raise OnlineStoreError(
                    f"write batch: join key '{key}' of feature view '{view.name}' expects {dtype} values; "
                    f"entity row {bad} has {col[bad].as_py()}, which is out of range [{low}, {high}]"
                )
        text = col.cast(pa.string())
        tag = pa.scalar("i", pa.string())
    joined: pa.StringArray = pc.binary_join_element_wise(tag, text, pa.scalar("", pa.string()))
    return joined


def _one_chunk(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _cast(
    col: pa.Array | pa.ChunkedArray, to: pa.DataType, name: str, view: OnlineView, *, what: str
) -> pa.Array | pa.ChunkedArray:
    if col.type == to:
        return col
    if pa.types.is_timestamp(to) and not pa.types.is_timestamp(col.type):
        raise OnlineStoreError(
            f"column '{name}' of the write batch for view '{view.name}' holds {col.type}, not {what} ({to})"
        )
    try:
        return col.cast(to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise OnlineStoreError(
            f"column '{name}' of the write batch for view '{view.name}' holds {col.type}, which cannot be "
            f"stored as {what} ({to}): {exc}"
        ) from None


def _check_key_type(actual: pa.DataType, key: str, dtype: str, view: OnlineView) -> None:
    ok = (
        pa.types.is_integer(actual)
        if dtype != "string"
        else pa.types.is_string(actual) or pa.types.is_large_string(actual)
    )
    if not ok:
        raise OnlineStoreError(
            f"join key '{key}' of view '{view.name}' is declared {dtype} but the write batch holds {actual}"
        )

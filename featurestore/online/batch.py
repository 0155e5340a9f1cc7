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
from featurestore.errors import EntityRowsError, OnlineStoreError
from featurestore.online import keys
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


def encode_batch(view: OnlineView, batch: pa.RecordBatch | pa.Table, *, now_us: int) -> EncodedBatch:
    """Check and encode a write batch for ``view``; raise :class:`OnlineStoreError` naming the problem."""
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
    ts = _cast(batch.column(EVENT_TS), _TS, EVENT_TS, view, what="event timestamps").cast(pa.int64())
    if ts.null_count:
        raise OnlineStoreError(
            f"write batch for view '{view.name}' has {ts.null_count} null {EVENT_TS} value(s); drop rows "
            "without an event timestamp before writing"
        )
    columns = {name: batch.column(name) for name in needed}
    ttl_us = view.ttl_us
    expire: pa.Array | pa.ChunkedArray | None = None
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
        key_columns.append(col.to_pylist())
    try:
        encoded_keys = keys.encode_columns(key_columns, view.key_dtypes, keys=view.join_keys, view=view.name)
    except EntityRowsError as exc:
        raise OnlineStoreError(f"write batch: {exc}") from None

    features = [
        _cast(columns[name], arrow_type(dtype), name, view, what=f"{dtype} feature")
        for name, dtype in view.features
    ]
    event_ts: list[int] = ts.to_pylist()
    values = codec_for(view.dtypes).encode(event_ts, features)
    expire_ms = None
    if expire is not None:  # every kept row expires after now (> 0), so truncating division rounds up here
        expire_ms = pc.divide(
            pc.add(expire, pa.scalar(999, pa.int64())), pa.scalar(1000, pa.int64())
        ).to_pylist()
    return EncodedBatch(encoded_keys, event_ts, values, expire_ms)


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

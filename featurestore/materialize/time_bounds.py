"""Bounded time on the write path: times as plans take them, no end in the future, expired rows counted.

An ``end`` later than now plus the clock skew is refused before anything is written, and rows whose ttl
has already run out by the wall clock are counted (``ViewRun.rows_expired``), never silently lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from featurestore.errors import FutureTimeError
from featurestore.registry.state import utcnow

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.online.base import OnlineView

Clock = Callable[[], int]
"""Now, in microseconds since the Unix epoch: the wall clock that expired rows are counted by."""


class ExpiredCount(Protocol):
    """Where expired rows are counted: a ``ViewRun``, or a partition's tally (``executors.py``)."""

    rows_expired: int


def to_naive_utc(value: datetime) -> datetime:
    """Plans use naive UTC; aware values are converted, naive ones are taken as UTC.

    >>> from datetime import timezone
    >>> to_naive_utc(datetime(2024, 1, 1, 13, tzinfo=timezone(timedelta(hours=1))))
    datetime.datetime(2024, 1, 1, 12, 0)
    >>> to_naive_utc(datetime(2024, 1, 1, 13))
    datetime.datetime(2024, 1, 1, 13, 0)
    """
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def check_not_future(value: datetime, clock_skew: timedelta, what: str) -> None:
    """Refuse a time later than now plus ``clock_skew``: values as of the future would pin the online
    store (newer wins) and a watermark there would make every later incremental run read nothing."""
    limit = utcnow() + clock_skew
    if value > limit:
        raise FutureTimeError(
            f"{what} {value.isoformat()} (UTC) is later than now plus the allowed clock skew "
            f"({limit.isoformat(timespec='seconds')} UTC): materialize up to now at most (`--end now`), "
            "or raise [materialize] clock_skew in featurestore.toml if this host's clock is behind"
        )


def drop_expired(
    view: OnlineView, batches: Iterable[pa.RecordBatch], run: ExpiredCount, clock: Clock
) -> Iterator[pa.RecordBatch]:
    """The batches without the rows whose ttl has run out by ``clock`` (counted in ``run``).

    The clock is read once per batch, so a long run measures each batch against its own write time.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from featurestore.online.base import EVENT_TS

    ttl_us = view.ttl_us
    for batch in batches:
        if ttl_us is None:
            yield batch
            continue
        now_us = clock()
        ts = batch.column(EVENT_TS).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        keep = pc.greater_equal(pc.add(ts, pa.scalar(ttl_us, pa.int64())), pa.scalar(now_us, pa.int64()))
        kept = int(pc.sum(keep).as_py() or 0)
        run.rows_expired += batch.num_rows - kept
        if kept == batch.num_rows:
            yield batch
        elif kept:
            yield batch.filter(keep)

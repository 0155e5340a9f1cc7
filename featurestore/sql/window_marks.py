"""Which events a materialization of windowed aggregations reads, one tree for every dialect: events
between two times, rows created after or by a created mark, late rows, the events new partial states
add, and where the value query starts reading. A dialect passes its ``EventReads``
(``window_latest.py``: DuckDB, ``spark_window_latest.py``: Spark).

>>> from datetime import datetime
>>> literal = lambda t: exp.Literal.string(str(t))
>>> reads = EventReads(lambda scan, columns: exp.select("*"), lambda scan, t: exp.true(), literal)
>>> reads.created_by(datetime(2024, 1, 1)).sql()
'("__created" IS NULL OR "__created" <= \\'2024-01-01 00:00:00\\')'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlglot import exp

from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import AggregatesAt, longest
from featurestore.sql.trees import CREATED, col


@dataclass(frozen=True)
class EventReads:
    """What the event reads take from a dialect."""

    events: Callable[
        [SourceScan, list[str]], exp.Select
    ]  # rows in the scan's bounds; WHERE names ``TS``, ``CREATED``
    after: Callable[[SourceScan, datetime], exp.Expr]  # the scan's event time strictly after a time
    ts_literal: Callable[[datetime], exp.Expr]  # a plan's time (naive UTC microseconds)

    def between(
        self, scan: SourceScan, columns: list[str], lower: datetime | None, upper: datetime
    ) -> exp.Select:
        """Events with ``lower < ts <= upper`` (the scan bound is inclusive; the filter makes it strict);
        ``lower <= ts < upper`` for a view excluding events at the current time (``SourceScan``)."""
        query = self.events(replace(scan, lower=lower, upper=upper), columns)
        if lower is not None:
            query = query.where(self.after(scan, lower))
        return query

    def created_after(self, mark: datetime | None) -> exp.Expr:
        """Rows created after ``mark``; None: every row with a created time."""
        if mark is None:
            return exp.Not(this=exp.Is(this=col(CREATED), expression=exp.null()))
        return exp.GT(this=col(CREATED), expression=self.ts_literal(mark))

    def created_by(self, mark: datetime | None) -> exp.Expr:
        """Rows with no created time or created at the latest at ``mark`` (None: no created time only)."""
        missing = exp.Is(this=col(CREATED), expression=exp.null())
        if mark is None:
            return missing
        return exp.Paren(this=exp.or_(missing, exp.LTE(this=col(CREATED), expression=self.ts_literal(mark))))

    def late(
        self, scan: SourceScan, columns: list[str], upper: datetime, after: datetime | None
    ) -> exp.Select:
        """Events with ``ts <= upper`` created after ``after`` (rows that landed late)."""
        return self.between(replace(scan, lower=None), columns, None, upper).where(self.created_after(after))

    def fresh_events(self, plan: AggregatesAt) -> exp.Query:
        """The events the new partial states add to the stored ones. A state holds the events with
        ``ts <= as_of`` and, for a source with a created time, ``created <= created_mark`` (or no created
        time): so those after ``base.as_of`` up to ``frozen.as_of``, and those at or before ``base.as_of``
        created after ``base.created_mark``, each created at the latest at ``frozen.created_mark``."""
        frozen = plan.frozen
        if frozen is None:
            raise ValueError("partial states need plan.frozen: where they are taken")
        columns = list(dict.fromkeys(a.column for a in plan.lifetime))
        base = plan.base
        fresh = self.between(plan.scan, columns, None if base is None else base.as_of, frozen.as_of)
        if not plan.scan.created_field:
            return fresh
        known = self.created_by(frozen.created_mark)
        fresh = fresh.where(known)
        if base is None or base.created_mark == frozen.created_mark:
            return fresh
        late = self.late(plan.scan, columns, base.as_of, base.created_mark).where(known.copy())
        return exp.union(fresh, late, distinct=False)


def value_lower(plan: AggregatesAt) -> datetime | None:
    """The value query reads events after this: the longest window, the entities' selection, and
    (lifetime) the events after the stored states; None: from the beginning."""
    lowers: list[datetime | None] = []
    window = longest(plan.windowed)
    if window is not None:
        lowers.append(plan.end - window)
    if plan.since is not None:
        lowers += [plan.new_since] + ([plan.since - window] if window is not None else [])
    elif plan.start is not None:
        lowers.append(plan.start)
    else:
        lowers.append(None)  # a full run writes every entity with an event up to the end
    if plan.lifetime:
        lowers.append(None if plan.frozen is None else plan.frozen.as_of)
    return None if any(x is None for x in lowers) else min(x for x in lowers if x is not None)

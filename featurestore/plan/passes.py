"""Small pure passes over plans. Each takes a plan and returns a refined copy.

The builder applies them in order: ``prune_columns`` then ``push_time_range``.
"""

from __future__ import annotations

from dataclasses import replace

from featurestore.plan.nodes import PointInTimeJoin, TrainingSetPlan
from featurestore.plan.window import WINDOW_PASSES, WindowAggregate


def prune_columns(plan: TrainingSetPlan) -> TrainingSetPlan:
    """Read only the keys, timestamps and the features a join needs (plus the tie-break columns).

    >>> from featurestore.plan.nodes import SourceScan, FeatureColumn, EntityRows
    >>> scan = SourceScan("v", "file", "/x.parquet", "parquet", False, "ts", "timestamp[us]", None, ("id",))
    >>> join = PointInTimeJoin("v", scan, ("id",), (FeatureColumn("a", "int64", "a"),), ("a", "b"), None)
    >>> plan = TrainingSetPlan(EntityRows("e", ("id", "ts"), "ts", 0, None, None), (join,))
    >>> prune_columns(plan).joins[0].scan.columns
    ('id', 'ts', 'a', 'b')
    """
    joins: list[PointInTimeJoin | WindowAggregate] = []
    for join in plan.joins:
        if not isinstance(join, PointInTimeJoin):  # aggregation views have their own passes
            joins.append(join)
            continue
        scan = join.scan
        wanted = [*join.keys, scan.timestamp_field]
        if scan.created_field:
            wanted.append(scan.created_field)
        for name in (*[f.name for f in join.features], *join.tie_break):
            if name not in wanted:
                wanted.append(name)
        joins.append(replace(join, scan=replace(scan, columns=tuple(wanted))))
    return replace(plan, joins=tuple(joins))


def push_time_range(plan: TrainingSetPlan) -> TrainingSetPlan:
    """Scan only rows that can be chosen: ``min(t) - ttl <= ts <= max(t)``.

    With no ttl there is no lower bound; with no entity rows the scan is left unbounded.

    >>> from datetime import datetime, timedelta
    >>> from featurestore.plan.nodes import SourceScan, FeatureColumn, EntityRows
    >>> scan = SourceScan("v", "file", "/x.parquet", "parquet", False, "ts", "timestamp[us]", None, ("id",))
    >>> join = PointInTimeJoin("v", scan, ("id",), (), (), timedelta(days=1))
    >>> rows = EntityRows("e", ("id", "ts"), "ts", 2, datetime(2024, 1, 5), datetime(2024, 1, 9))
    >>> s = push_time_range(TrainingSetPlan(rows, (join,))).joins[0].scan
    >>> s.lower, s.upper
    (datetime.datetime(2024, 1, 4, 0, 0), datetime.datetime(2024, 1, 9, 0, 0))
    """
    entity = plan.entity
    if entity.min_ts is None or entity.max_ts is None:
        return plan
    joins: list[PointInTimeJoin | WindowAggregate] = []
    for join in plan.joins:
        if not isinstance(join, PointInTimeJoin):  # aggregation views have their own passes
            joins.append(join)
            continue
        lower = None if join.ttl is None else entity.min_ts - join.ttl
        joins.append(replace(join, scan=replace(join.scan, lower=lower, upper=entity.max_ts)))
    return replace(plan, joins=tuple(joins))


PASSES = (prune_columns, push_time_range, *WINDOW_PASSES)  # aggregation views: plan/window.py


def optimize(plan: TrainingSetPlan) -> TrainingSetPlan:
    for apply in PASSES:
        plan = apply(plan)
    return plan


__all__ = ["PASSES", "PointInTimeJoin", "optimize", "prune_columns", "push_time_range"]

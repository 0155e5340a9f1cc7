"""A human-readable account of a plan: the same plan the renderer turns into SQL."""

from __future__ import annotations

from featurestore.config import format_duration
from featurestore.plan.nodes import LatestPerKey, PointInTimeJoin, SourceScan, TrainingSetPlan
from featurestore.plan.window import WindowAggregate, explain_window


def explain(plan: TrainingSetPlan | LatestPerKey) -> str:
    """Describe the plan step by step, one line per decision."""
    if isinstance(plan, LatestPerKey):
        lines = [f"LatestPerKey view={plan.view} keys={list(plan.keys)} end={plan.end.isoformat()}"]
        lines += _scan_lines(plan.scan)
        return "\n".join(lines)
    e = plan.entity
    lines = [
        f"TrainingSet: {e.row_count} entity rows from {e.table}, timestamp column {e.timestamp_column!r}, "
        f"range [{e.min_ts}, {e.max_ts}]",
    ]
    for i, join in enumerate(plan.joins, 1):
        lines.append(f"{i}. {_join_line(join)}")
        events = isinstance(join, WindowAggregate)  # aggregation views count every row
        lines += ["   " + line for line in _scan_lines(join.scan, events=events)]
    lines.append(f"{len(plan.joins) + 1}. join the views' results on the entity row id; keep input order")
    return "\n".join(lines)


def _join_line(join: PointInTimeJoin | WindowAggregate) -> str:
    if isinstance(join, WindowAggregate):
        return explain_window(join)
    ttl = "no ttl" if join.ttl is None else f"ttl {format_duration(join.ttl)}"
    # What is chosen, not how: each engine's SQL (below the plan) says how.
    before = "ts < t" if join.scan.exclude_current_time else "ts <= t"
    mode = f"latest row with {before}" + (" and created <= t" if join.as_known_at else "")
    feats = ", ".join(f.name if f.name == f.output else f"{f.name} AS {f.output}" for f in join.features)
    return f"PointInTimeJoin view={join.view} keys={list(join.keys)} {mode}, {ttl}: {feats}"


def _scan_lines(scan: SourceScan, *, events: bool = False) -> list[str]:
    cols = "all columns" if scan.columns is None else ", ".join(scan.columns)
    upper = ")" if scan.exclude_current_time and scan.upper else "]"
    rng = f"[{scan.lower or '-inf'}, {scan.upper or '+inf'}{upper}"
    dedup = f"dedup (keys, ts) by {scan.created_field or 'feature values'}"
    if events:
        dedup = "every row is an event (no dedup)"
    pushed = f" + pushed rows {scan.pushed!r}" if scan.pushed else ""
    return [f"scan {scan.kind} {scan.location!r}{pushed}: {cols}; ts in {rng}; drop null keys/ts; {dedup}"]

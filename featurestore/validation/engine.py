"""Validation in the engine: one aggregate query over the rows a run would write computes every number
the view's checks need; then, for each broken rule only, one small query reads its first offending rows.
What a materialization runs before it writes, and what ``validate`` runs on a view."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from featurestore.sql import renderer_for
from featurestore.validation.report import MAX_KEYS, ValidationReport
from featurestore.validation.rules import Rule, finish, judge, measure_plan, report_of

if TYPE_CHECKING:
    from featurestore.engines.base import Engine


def validate_in_engine(
    engine: Engine, rules: tuple[Rule, ...], rows_query: str, keys: tuple[str, ...], end: datetime | None
) -> ValidationReport:
    """Evaluate ``rules`` over the rows of ``rows_query`` (join ``keys``, ``__event_ts``, features, as
    the materialization strategies' ``rows_query()``); ``end``: the naive UTC time Freshness is measured
    from."""
    plan = measure_plan(rules)
    if not plan.measures:
        return report_of(plan, [])
    sql = renderer_for(engine.capabilities)
    values = engine.to_arrow(sql.render_check_counts(rows_query, plan.measures)).to_pylist()[0]
    violations = []
    for judged in judge(plan, values, end):
        rows = []
        if judged.offenders is not None:
            query = sql.render_check_offenders(rows_query, judged.offenders, keys, MAX_KEYS)
            rows = engine.to_arrow(query).to_pylist()
        violations.append(finish(judged, rows, keys))
    return report_of(plan, violations)

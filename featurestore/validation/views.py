"""Validation on demand (``FeatureStore.validate``, ``featurestore validate``): a view's checks over the
rows a full materialization up to ``end`` would write, or over every source row up to ``end``; a training
set's feature checks over its feature columns. Nothing is written."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from featurestore.validation.arrow import validate_table
from featurestore.validation.engine import validate_in_engine
from featurestore.validation.report import ValidationReport
from featurestore.validation.rules import rules_of

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.plan.nodes import FeatureColumn
    from featurestore.registry.model import RegisteredView


class RunJob(Protocol):
    """What validation needs of a planned materialization run (``materialize/strategy.py::ViewJob``)."""

    def prepare(self) -> object: ...

    def rows_query(self) -> str: ...

    def discard(self) -> None: ...


PlanRun = Callable[["RegisteredView", datetime], RunJob]
"""The job of a full materialization run of a view up to a time (the view's strategy, planned)."""


def validate_views(
    views: Iterable[RegisteredView],
    engine: Engine,
    root: Path,
    end: datetime,
    *,
    all_rows: bool,
    plan_run: PlanRun,
) -> ValidationReport:
    """Each view's checks, views without any skipped. ``end``: naive UTC.

    ``all_rows=False``: over the rows a full materialization up to ``end`` would write (planned by
    ``plan_run``; its preparation undone). ``all_rows=True``: over every source row up to ``end``
    (RowCount counts source rows; an aggregation view's feature checks are about aggregates, not
    source rows, and are left out)."""
    reports = []
    for rv in views:
        keys = rv.view.join_keys
        if all_rows:
            rules = rules_of(rv, features=() if rv.view.aggregations else None)
            if rules:
                reports.append(
                    validate_in_engine(engine, rules, _source_rows(rv, engine, root, end), keys, end)
                )
            continue
        rules = rules_of(rv)
        if not rules:
            continue
        job = plan_run(rv, end)
        try:
            job.prepare()
            reports.append(validate_in_engine(engine, rules, job.rows_query(), keys, end))
        finally:
            job.discard()
    return ValidationReport.combine(reports)


def _source_rows(rv: RegisteredView, engine: Engine, root: Path, end: datetime) -> str:
    from featurestore.plan.build import scan_with_pushed
    from featurestore.sql import renderer_for

    features = () if rv.view.aggregations else rv.view.feature_names
    scan = scan_with_pushed(rv, root)
    wanted = [*rv.view.join_keys, scan.timestamp_field]
    if scan.created_field:
        wanted.append(scan.created_field)
    scan = replace(scan, columns=(*wanted, *features), lower=None, upper=end)
    return renderer_for(engine.capabilities).render_source_rows(scan, features)


def validate_training_table(
    table: pa.Table, groups: Iterable[tuple[RegisteredView, tuple[FeatureColumn, ...]]]
) -> ValidationReport:
    """The feature checks of each view's requested features over a training set's columns (``output``
    names, renamed back to the features'); view checks do not apply to a training set."""
    reports = []
    for rv, features in groups:
        rules = rules_of(rv, features=[f.name for f in features], view_checks=False)
        if not rules:
            continue
        keys = tuple(k for k in rv.view.join_keys if k in table.column_names)
        columns = {k: table.column(k) for k in keys}
        columns.update({f.name: table.column(f.output) for f in features})
        import pyarrow as pa

        reports.append(validate_table(pa.table(columns), rules, keys, None))
    return ValidationReport.combine(reports)

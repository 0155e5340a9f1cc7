"""Builders: requests -> naive plans, then the passes refine them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from featurestore.dsl import FileSource
from featurestore.plan.nodes import (
    EntityRows,
    FeatureColumn,
    LatestPerKey,
    PointInTimeJoin,
    SourceScan,
    TrainingSetPlan,
)
from featurestore.plan.passes import optimize
from featurestore.plan.window import WindowAggregate, plan_window_aggregate
from featurestore.registry.model import RegisteredView


def source_location(source: FileSource, root: Path) -> str:
    """The absolute path or glob a file source reads. A folder means every file below it; a URL
    (``s3://bucket/events/*.parquet``) is read as written, except that one whose last part has neither a
    wildcard nor an extension is a folder (object stores have no folders to ask about).

    >>> from featurestore.dsl import FileSource
    >>> source_location(FileSource(name="s", path="s3://b/events", timestamp_field="ts"), Path("/r"))
    's3://b/events/**/*.parquet'
    """
    if "://" in source.path:
        last = source.path.rstrip("/").rpartition("/")[2]
        if any(c in source.path for c in "*?[") or "." in last:
            return source.path
        suffix = "csv" if source.format == "csv" else "parquet"
        return f"{source.path.rstrip('/')}/**/*.{suffix}"
    path = Path(source.path)
    if not path.is_absolute():
        path = root / path
    text = str(path)
    if path.is_dir():
        suffix = "csv" if source.format == "csv" else "parquet"
        text = str(path / "**" / f"*.{suffix}")
    return text


def scan_for(rv: RegisteredView, root: Path) -> SourceScan:
    """A scan of the view's whole source (the passes narrow it)."""
    source = rv.view.source
    # Arrow type names (plan/nodes.py); a schema without the column (a scan built to read the schema)
    # assumes naive microseconds.
    ts_type = rv.source_schema.get(source.timestamp_field, "timestamp[us]")
    created = source.created_timestamp_field
    created_type = rv.source_schema.get(created, "timestamp[us]") if created else "timestamp[us]"
    if isinstance(source, FileSource):
        return SourceScan(
            view=rv.name,
            kind="file",
            location=source_location(source, root),
            file_format="csv" if source.format == "csv" else "parquet",
            hive_partitioning=source.hive_partitioning,
            timestamp_field=source.timestamp_field,
            timestamp_type=ts_type,
            created_field=source.created_timestamp_field,
            key_columns=rv.view.join_keys,
            created_type=created_type,
            exclude_current_time=rv.view.exclude_current_time,
        )
    return SourceScan(
        view=rv.name,
        kind="sql",
        location=source.query,
        query_dialect=source.dialect,
        file_format="parquet",
        hive_partitioning=False,
        timestamp_field=source.timestamp_field,
        timestamp_type=ts_type,
        created_field=source.created_timestamp_field,
        key_columns=rv.view.join_keys,
        created_type=created_type,
        exclude_current_time=rv.view.exclude_current_time,
    )


def scan_with_pushed(rv: RegisteredView, root: Path) -> SourceScan:
    """The view's source together with its push log (rows pushed offline), when there is one."""
    from featurestore.plan.pushed import push_log_glob

    return replace(scan_for(rv, root), pushed=push_log_glob(root, rv.name))


def plan_training_set(
    groups: list[tuple[RegisteredView, list[str]]],
    outputs: list[list[str]],
    entity: EntityRows,
    root: Path,
    *,
    as_known_at: bool = False,
    column_order: tuple[str, ...] = (),
) -> TrainingSetPlan:
    """One point-in-time join per requested view, in request order, then the passes."""
    joins: list[PointInTimeJoin | WindowAggregate] = []
    for (rv, feats), outs in zip(groups, outputs, strict=True):
        if rv.view.aggregations:  # windowed aggregates: plan/window.py
            joins.append(plan_window_aggregate(rv, feats, outs, root, as_known_at=as_known_at))
            continue
        columns = tuple(
            FeatureColumn(
                name=f, dtype=rv.view.feature(f).dtype, output=o, source_type=rv.source_schema.get(f, "")
            )
            for f, o in zip(feats, outs, strict=True)
        )
        joins.append(
            PointInTimeJoin(
                view=rv.name,
                scan=scan_with_pushed(rv, root),
                keys=rv.view.join_keys,
                features=columns,
                tie_break=rv.view.feature_names,
                ttl=rv.view.ttl,
                as_known_at=as_known_at,
            )
        )
    order = column_order or tuple(o for outs in outputs for o in outs)
    return optimize(TrainingSetPlan(entity=entity, joins=tuple(joins), column_order=order))


def plan_latest(
    rv: RegisteredView,
    root: Path,
    *,
    start: datetime | None,
    end: datetime,
    changed_since: tuple[datetime, datetime | None] | None = None,
) -> LatestPerKey:
    """The latest value per entity as of ``end`` (considering rows from ``start`` on)."""
    scan = scan_with_pushed(rv, root)
    features = tuple(
        FeatureColumn(f.name, f.dtype, f.name, rv.source_schema.get(f.name, "")) for f in rv.view.features
    )
    lower = start
    if rv.view.ttl is not None:
        floor = end - rv.view.ttl
        lower = floor if lower is None or floor > lower else lower
    wanted = [*rv.view.join_keys, scan.timestamp_field]
    if scan.created_field:
        wanted.append(scan.created_field)
    wanted.extend(f.name for f in rv.view.features)
    scan = replace(scan, columns=tuple(wanted), lower=lower, upper=end)
    return LatestPerKey(
        view=rv.name,
        scan=scan,
        keys=rv.view.join_keys,
        features=features,
        tie_break=rv.view.feature_names,
        start=start,
        end=end,
        ttl=rv.view.ttl,
        changed_since=changed_since,
    )

"""Definitions -> a registry: check every view against its source's real schema first."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from featurestore.dsl import FeatureView, FileSource, SparkSource, SqlSource
from featurestore.dsl.aggregation import resolve_aggregations
from featurestore.dsl.dtypes import TIME_TYPES_ACCEPTED, is_compatible, is_time_type, type_name
from featurestore.dsl.source import DEFAULT_DIALECT
from featurestore.engines.base import Engine
from featurestore.engines.queries import QueryRefused, parse_query, relative_file_reads
from featurestore.errors import (
    DefinitionError,
    FeatureStoreError,
    SchemaMismatchError,
    SourceError,
    looks_like_column_names,
)
from featurestore.plan.build import scan_for, source_location
from featurestore.registry import Definitions, RegisteredView, Registry
from featurestore.registry.code import record_code
from featurestore.sql import renderer_for

# Join key column types (Arrow names): integers and strings.
_KEY_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "string")


def build_registry(defs: Definitions, engine: Engine, root: Path, project: str) -> Registry:
    """Check each view's source and columns, then assemble the registry to apply (with where each
    on-demand function comes from: ``registry/code.py``)."""
    check_dialects(defs, engine)
    views = {}
    for name, view in sorted(defs.views.items()):
        schema = source_schema(view, engine, root)
        check_view_schema(view, schema, engine)
        if view.aggregations:  # check the aggregated columns, settle column-dependent output types
            view = resolve_aggregations(view, schema)
        views[name] = RegisteredView(
            view=view,
            data_fingerprint=view.data_fingerprint(),
            metadata_fingerprint=view.metadata_fingerprint(),
            source_schema=schema,
        )
    return Registry(
        project=project,
        entities=dict(sorted(defs.entities.items())),
        sources=dict(sorted(defs.sources.items())),
        views=views,
        services=dict(sorted(defs.services.items())),
        on_demand_views=dict(sorted(defs.on_demand_views.items())),
        on_demand_code=record_code(defs, root),
    )


def check_dialects(defs: Definitions, engine: Engine) -> None:
    """Every SQL source must be written in the engine's dialect: refused before anything is read."""
    dialect = engine.capabilities.dialect
    sources = {**{v.source.name: v.source for v in defs.views.values()}, **defs.sources}
    for name, source in sorted(sources.items()):
        if isinstance(source, SparkSource) and source.dialect != dialect:
            raise DefinitionError(
                f"SparkSource {name!r}{source.where()} reads the Spark catalog table {source.table!r}, "
                f'but the engine is {dialect!r}, which cannot read it. Set [offline] engine = "spark" in '
                "featurestore.toml, or export the table to Parquet and read it with a FileSource"
            )
        if isinstance(source, SqlSource) and source.dialect != dialect:
            raise DefinitionError(
                f"SqlSource {name!r}{source.where()} is written in dialect {source.dialect!r} but the "
                f"engine runs {dialect!r}. Rewrite its query in {dialect} and set dialect={dialect!r} "
                "(or use an engine of that dialect)"
            )


def source_schema(view: FeatureView, engine: Engine, root: Path) -> dict[str, str]:
    """The real column types of a view's source, as Arrow type names (what the registry stores); a
    clear error if it cannot be read."""
    source = view.source
    if isinstance(source, FileSource):
        location = source_location(source, root)
        # A URL (s3://...) is checked by the probe below: the engine lists it.
        if "://" not in location and not glob.glob(location, recursive=True):
            raise SourceError(
                f"source {source.name!r} of feature view {view.name!r}{view.where()}: no file matches "
                f"{source.path!r} (looked for {location}). Create the data or fix the path."
            )
    else:
        try:
            # The engine's dialect (check_dialects refused any other): parsed as its renderer reads it.
            tree = parse_query(source.query, renderer_for(engine.capabilities).source_dialect)
        except QueryRefused as exc:
            raise SourceError(
                f"source {source.name!r} of feature view {view.name!r}{view.where()}: its query is "
                f"refused: {exc}. Fix the query: it is used as a subquery, so it must be one SELECT, WITH or "
                "VALUES query."
            ) from None
        relative = [] if engine.capabilities.relative_paths else relative_file_reads(tree)
        if relative:
            raise SourceError(
                f"source {source.name!r} of feature view {view.name!r}{view.where()}: its Spark SQL query "
                f"reads the relative path {relative[0]!r}, which Spark would resolve against its own working "
                f"directory, not the repo root; write it absolute ({(root / relative[0]).as_posix()}) or as "
                "a URI (s3a://..., hdfs://...), one the driver and the executors can read."
            ) from None
    rv = RegisteredView(view=view, data_fingerprint="", metadata_fingerprint="", source_schema={})
    query = renderer_for(engine.capabilities).render_source_probe(scan_for(rv, root))
    try:
        return {column: type_name(kind) for column, kind in engine.schema_of(query).items()}
    except SourceError as exc:
        raise SourceError(
            f"source {source.name!r} of feature view {view.name!r}{view.where()} cannot be read: "
            f"{str(exc).removeprefix('the engine could not run the query: ')}"
        ) from None


def check_view_schema(view: FeatureView, schema: dict[str, str], engine: Engine) -> None:
    """Every key, timestamp and feature column must exist with a compatible type."""
    where = f"feature view {view.name!r}{view.where()}"
    source = view.source
    origin = f"source {source.name!r}" + (f" ({source.path})" if isinstance(source, FileSource) else "")
    if looks_like_column_names(schema):
        available = f"Source columns: {', '.join(f'{k} {v}' for k, v in schema.items())}."
    else:
        # The names came from the file's first line, which may be anything: never shown.
        available = (
            f"The names of its {len(schema)} column(s) do not look like a header: is it a table (Parquet, "
            "or CSV whose first line names the columns)?"
        )

    def need(column: str, role: str) -> str:
        if column not in schema:
            raise SchemaMismatchError(f"{where}: its {origin} has no {role} column {column!r}. {available}")
        return schema[column]

    for column in (view.source.timestamp_field, view.source.created_timestamp_field):
        if column is None:
            continue
        actual = need(column, "timestamp")
        if not is_time_type(actual):
            raise SchemaMismatchError(
                f"{where}: timestamp column {column!r} has type {actual} in the source; it must be "
                f"{TIME_TYPES_ACCEPTED}. {_time_fix(view, column, actual, engine)}"
            )
    for key in view.join_keys:
        actual = need(key, "join key")
        if actual not in _KEY_TYPES:
            raise SchemaMismatchError(
                f"{where}: join key {key!r} has type {actual} in the source; join keys must be integers "
                "or strings."
            )
    for feature in () if view.aggregations else view.features:  # aggregates are not source columns
        actual = need(feature.name, "feature")
        if not is_compatible(feature.dtype, actual):
            raise SchemaMismatchError(
                f"{where}: feature {feature.name!r}: column {feature.name!r} is {actual} in the source, the "
                f"feature is declared {feature.dtype}. Change the declared dtype or cast the column in the "
                "source."
            )


def _time_fix(view: FeatureView, column: str, actual: str, engine: Engine) -> str:
    """How to turn a column of the wrong type into a timestamp: a SqlSource (in the engine's dialect)
    that converts it."""
    source = view.source
    renderer = renderer_for(engine.capabilities)
    path = source.path if isinstance(source, FileSource) else None
    file_format = "csv" if isinstance(source, FileSource) and source.format == "csv" else "parquet"
    query, note = renderer.render_time_fix(column, actual, path, file_format)
    dialect = "" if renderer.dialect == DEFAULT_DIALECT else f'dialect="{renderer.dialect}", '
    return (
        f"Convert it with a SqlSource{note}: "
        f'SqlSource(name="{source.name}", query="{query}", {dialect}'
        f'timestamp_field="{source.timestamp_field}", ...), or write the column as a timestamp.'
    )


def explain_run_error(
    views: Iterable[RegisteredView], engine: Engine, root: Path, error: SourceError, doing: str
) -> FeatureStoreError:
    """What to tell the user when the engine fails while ``doing`` something with ``views`` (build a
    training set, materialize): a source that changed since apply, named with its view and columns, or
    else the views and sources involved. Runs only after a failure: it reads each source's schema again."""
    views = list(views)
    for rv in views:
        try:
            now = source_schema(rv.view, engine, root)
        except SourceError as exc:  # gone or unreadable: that message already names view and source
            return exc
        changed = [
            f"{column!r} is {now.get(column, 'gone')} (was {was} at apply)"
            for column, was in rv.source_schema.items()
            if column in _read_columns(rv.view) and now.get(column) != was
        ]
        if changed:
            source = rv.view.source
            return SchemaMismatchError(
                f"feature view {rv.name!r}{rv.view.where()}: its source {source.name!r} changed since apply: "
                f"{'; '.join(changed)}. Fix the data, or change the definition to match and run "
                "`featurestore apply` again"
            )
    involved = ", ".join(
        f"{rv.name!r} ({rv.view.defined_at}, source {rv.view.source.name!r})"
        if rv.view.defined_at
        else f"{rv.name!r} (source {rv.view.source.name!r})"
        for rv in views
    )
    first = str(error).removeprefix("the engine could not run the query: ")
    return SourceError(
        f"{doing} from feature view{'s' if len(views) != 1 else ''} {involved} failed: {first}"
    )


def _read_columns(view: FeatureView) -> set[str]:
    """The source columns a view reads."""
    source = view.source
    columns = {*view.join_keys, source.timestamp_field}
    if source.created_timestamp_field:
        columns.add(source.created_timestamp_field)
    if view.aggregations:
        columns.update(a.column for a in view.aggregations)
    else:
        columns.update(f.name for f in view.features)
    return columns

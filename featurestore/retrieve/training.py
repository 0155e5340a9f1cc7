"""Training sets: entity rows + point-in-time joins, compiled to one statement in the engine's dialect."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.display import Table, arrow_table, count, html_of, plural, text
from featurestore.dsl import FeatureService
from featurestore.errors import (
    FeatureStoreError,
    InvalidArgumentError,
    OutputError,
    SourceError,
    write_problem,
)
from featurestore.plan import EntityRows, PointInTimeJoin, TrainingSetPlan, explain, plan_training_set
from featurestore.plan.passes import optimize
from featurestore.registry.model import RegisteredView, Registry, column_order, output_names
from featurestore.retrieve.entity_parquet import FileRows, engine_reads_time
from featurestore.retrieve.entity_rows import (
    PreparedRows,
    check_reach,
    entity_file,
    prepare,
    to_arrow_table,
    validate,
)
from featurestore.sql import renderer_for

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.sql.renderer import Renderer
    from featurestore.stats import Profiler, Profiles
    from featurestore.validation.report import ValidationReport

_counter = itertools.count()
PREVIEW_ROWS = 10
"""How many rows a notebook shows of a training set (``_repr_html_``): only these are joined."""


class TrainingSet:
    """A planned training set. Nothing runs until you ask for the rows.

    ``.to_arrow()``, ``.to_polars()``, ``.to_pandas()``, ``.to_parquet(path)`` (streams, never holds
    the whole result), ``.to_batches()``; ``.sql`` and ``.explain()`` show what will run;
    ``.profile()`` the feature columns' statistics. ``.preview(n)`` / ``.head(n)`` join only the first
    ``n`` entity rows: a notebook shows a preview that costs what 10 rows cost.

    >>> training = store.get_training_set(entity_df, features="model_v1")  # doctest: +SKIP
    >>> training.to_polars().height                                        # doctest: +SKIP
    2

    README: "Quickstart", "In a notebook", "Point-in-time semantics".
    """

    _profiles: Profiles | None = None

    def __init__(
        self,
        engine: Engine,
        plan: TrainingSetPlan,
        sql: str,
        rows: PreparedRows | FileRows,
        views: tuple[RegisteredView, ...] = (),
        root: Path | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        """``sql``: ``plan`` rendered by ``renderer`` (default: the engine's dialect's renderer)."""
        self._engine = engine
        self._renderer = renderer or renderer_for(engine.capabilities)
        self.plan = plan
        self.sql = sql
        self._table_name = plan.entity.table
        self._rows = rows  # keeps the registered Arrow data alive
        self._views = views
        self._root = root
        rows.register(engine, self._table_name)

    def _explain(self, error: SourceError) -> FeatureStoreError:
        """An engine error, with the view and source it came from (a source changed since apply?)."""
        if not self._views or self._root is None:
            return error
        from featurestore.apply import explain_run_error

        return explain_run_error(self._views, self._engine, self._root, error, "building the training set")

    def __del__(self) -> None:
        # At interpreter shutdown the engine may already be gone: nothing left to release.
        with contextlib.suppress(Exception):
            self._engine.unregister(self._table_name)

    def __len__(self) -> int:
        return self.plan.entity.row_count

    @property
    def columns(self) -> list[str]:
        return [*self.plan.entity.columns, *self.plan.column_order]

    @property
    def feature_columns(self) -> list[str]:
        """The columns after the entity rows' own: the features, in the requested order."""
        return list(self.plan.column_order)

    def explain(self) -> str:
        """The plan, step by step, followed by the SQL it renders to."""
        return f"{explain(self.plan)}\n\n-- SQL ({self._renderer.dialect})\n{self.sql}"

    @staticmethod
    def _attach(base: pa.Table, features: pa.Table) -> pa.Table:
        """The entity rows exactly as given, then the feature columns."""
        import pyarrow as pa

        return pa.Table.from_arrays(
            [*base.columns, *features.columns], names=[*base.column_names, *features.column_names]
        )

    def to_arrow(self, *, profile: bool = False) -> pa.Table:
        """The whole training set as one table; ``profile=True`` also computes :meth:`profile` from it."""
        try:
            features = self._engine.to_arrow(self.sql)
        except SourceError as exc:
            raise self._explain(exc) from None
        if features.num_rows != len(self):  # would mean a broken join: never attach misaligned rows
            raise RuntimeError(f"training set produced {features.num_rows} rows for {len(self)} entity rows")
        return self._profile_table(self._attach(self._rows.whole(), features), profile)

    def _profile_table(self, table: pa.Table, profile: bool) -> pa.Table:
        if profile:
            profiler: list[Profiler] = []
            for _ in self._profiled([table], profiler):
                pass
            self._profiles = self._finish_profile(profiler)
        return table

    def validate(self) -> ValidationReport:
        """The checks of the training set's features (``dsl/checks.py``) over its feature columns; view
        checks (Freshness, RowCount) do not apply. Builds the training set to read it."""
        from featurestore.validation.views import validate_training_table

        by_view = {rv.name: rv for rv in self._views}
        groups = [(by_view[j.view], j.features) for j in self.plan.joins if j.view in by_view]
        return validate_training_table(self.to_arrow(), groups)

    def to_polars(self) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        if not isinstance(frame, pl.DataFrame):  # a single column comes back as a Series
            frame = frame.to_frame()
        return frame

    def to_pandas(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def to_pylist_rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (small training sets only)."""
        rows: list[dict[str, Any]] = self.to_arrow().to_pylist()
        return rows

    def to_batches(self, batch_size: int = 100_000) -> Iterator[pa.Table]:
        """The training set in input order, one table of at most ``batch_size`` rows at a time."""
        import pyarrow as pa

        entity_rows = self._rows.slices()
        batches = self._engine.batches(self.sql, batch_size)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except SourceError as exc:
                raise self._explain(exc) from None
            yield self._attach(entity_rows.take(batch.num_rows), pa.Table.from_batches([batch]))

    def profile(self, batch_size: int = 100_000) -> Profiles:
        """The statistics of the feature columns (``featurestore.stats.Profiles``: count, nulls, min,
        max, mean, stddev, quantiles, distinct count, top values, histogram), computed in one streamed
        pass; kept, so a second call (or one after ``to_parquet(path, profile=True)``) costs nothing.
        Save it with ``.save(path)``: it is a reference for ``featurestore drift``."""
        if self._profiles is None:
            profiler: list[Profiler] = []
            for _ in self._profiled(self.to_batches(batch_size), profiler):
                pass
            self._profiles = self._finish_profile(profiler)
        return self._profiles

    def _profiled(self, tables: Iterable[pa.Table], profiler: list[Profiler]) -> Iterator[pa.Table]:
        """The same tables, their feature columns profiled on the way (the profiler made at the first)."""
        from featurestore.stats import Profiler
        from featurestore.stats.kinds import kind_of

        self._profiled_rows = 0
        for table in tables:
            if not profiler:
                types = {name: str(table.schema.field(name).type) for name in self.feature_columns}
                profiler.append(Profiler({n: t for n, t in types.items() if kind_of(t) is not None}))
            profiler[0].update(table)
            self._profiled_rows += table.num_rows
            yield table

    def _finish_profile(self, profiler: list[Profiler]) -> Profiles:
        from featurestore.stats import Profiler, Profiles

        return Profiles.of(
            profiler[0] if profiler else Profiler({}),
            rows=self._profiled_rows if profiler else 0,
            label="training set",
        )

    def to_parquet(self, path: str | Path, *, profile: bool = False) -> Path:
        """Write the training set to a Parquet file, streaming; the file appears whole or not at all.
        ``profile=True`` also computes :meth:`profile` in the same pass."""
        import pyarrow.parquet as pq

        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            # Before anything runs: a place that cannot be written is refused without computing anything.
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.touch()
        except OSError as exc:
            raise OutputError(
                f"the training set cannot be written to {target}: {write_problem(exc, target)}"
            ) from None
        writer = None
        profiler: list[Profiler] = []
        tables = self.to_batches()
        if profile:
            tables = self._profiled(tables, profiler)
        try:
            for table in tables:
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
            if writer is None:  # no entity rows: an empty file with the right schema
                pq.write_table(self.to_arrow(), tmp, compression="zstd")
            else:
                writer.close()
            os.replace(tmp, target)
            if profile:
                self._profiles = self._finish_profile(profiler)
        except OSError as exc:
            unchanged = (
                f"the previous {target.name} is unchanged" if target.exists() else "nothing was written"
            )
            raise OutputError(
                f"the training set cannot be written to {target}: {write_problem(exc, target)}; {unchanged}"
            ) from None
        finally:
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()
            if tmp.exists():
                tmp.unlink()
        return target

    def head(self, rows: int = PREVIEW_ROWS) -> TrainingSet:
        """The same training set planned over the first ``rows`` entity rows only (their own time range
        pushed into the scans): its ``explain()``, ``to_arrow()`` read no more. ``self`` when it has no
        more rows than that."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise InvalidArgumentError(f"a training set's head takes a row count >= 0, got {rows!r}")
        if rows >= len(self):
            return self
        prepared = self._rows.first(rows)
        entity = replace(
            self.plan.entity,
            table=f"__entity_rows_{next(_counter)}",
            row_count=rows,
            min_ts=prepared.min_ts,
            max_ts=prepared.max_ts,
        )
        plan = optimize(replace(self.plan, entity=entity))
        sql = self._renderer.render_training_set(plan)
        return TrainingSet(self._engine, plan, sql, prepared, self._views, self._root, self._renderer)

    def preview(self, rows: int = PREVIEW_ROWS) -> pa.Table:
        """The first ``rows`` rows of the training set, joining only the first ``rows`` entity rows."""
        return self.head(rows).to_arrow()

    def _origins(self) -> list[tuple[str, str, str]]:
        """``(column, where it comes from, dtype)`` of every column, known without running anything."""
        schema = self._rows.output_schema
        out = [(c, "entity rows", str(schema.field(c).type)) for c in self.plan.entity.columns]
        found: dict[str, tuple[str, str]] = {}
        for join in self.plan.joins:
            named = join.features if isinstance(join, PointInTimeJoin) else join.aggregates
            found.update({f.output: (f"{join.view}:{f.name}", f.dtype) for f in named})
        return out + [(c, *found.get(c, ("", ""))) for c in self.plan.column_order]

    def _shape(self) -> str:
        return f"{plural(len(self), 'row')}, {plural(len(self.columns), 'column')}"

    def __repr__(self) -> str:
        """The shape and the columns (where each comes from, its dtype); nothing runs."""
        rows = tuple(self._origins())
        table = Table(
            f"TrainingSet: {self._shape()} (planned; nothing has run)",
            ("column", "from", "dtype"),
            rows,
            notes=(
                f"rows: .preview({PREVIEW_ROWS}) joins only the first {PREVIEW_ROWS}; all: .to_polars(), "
                ".to_pandas(), .to_parquet(path); what runs: .explain()",
            ),
        )
        return text([table])

    def _repr_html_(self) -> str:
        """A preview: the first rows, joined over the first entity rows only, and the full shape."""
        head = self.preview(PREVIEW_ROWS)
        if head.num_rows < len(self):
            title = f"TrainingSet: {self._shape()}; a preview of the first {count(head.num_rows)}"
            notes = [
                f"preview of {count(head.num_rows)} of {plural(len(self), 'row')}: only these entity rows "
                "were joined. All rows: .to_polars(), .to_pandas(), .to_parquet(path)"
            ]
        else:
            title, notes = f"TrainingSet: {self._shape()}", []
        return html_of([arrow_table(title, head, notes)])


def build_training_set(
    registry: Registry,
    engine: Engine,
    root: Path,
    entity_df: Any,
    features: Iterable[str] | FeatureService | str,
    *,
    full_feature_names: bool = False,
    timestamp_column: str = "event_timestamp",
    as_known_at: bool = False,
) -> TrainingSet:
    """Validate the request, plan it and render it. Raises before anything runs."""
    pairs = registry.expand(features)
    groups = registry.resolve(features)
    keys = list(dict.fromkeys(k for rv, _ in groups for k in rv.view.join_keys))
    rows = _entity_rows(entity_df, engine, timestamp_column, groups, keys)
    schema = rows.output_schema
    outputs = output_names(groups, full_feature_names, taken=schema.names)
    check_reach(rows.min_ts, timestamp_column, groups)
    entity = EntityRows(
        table=f"__entity_rows_{next(_counter)}",
        columns=tuple(schema.names),
        timestamp_column=timestamp_column,
        row_count=rows.row_count,
        min_ts=rows.min_ts,
        max_ts=rows.max_ts,
    )
    order = column_order(pairs, groups, outputs)
    plan = plan_training_set(groups, outputs, entity, root, as_known_at=as_known_at, column_order=order)
    views = tuple({rv.name: rv for rv, _ in groups}.values())
    renderer = renderer_for(engine.capabilities)
    return TrainingSet(engine, plan, renderer.render_training_set(plan), rows, views, root, renderer)


def _entity_rows(
    entity_df: Any,
    engine: Engine,
    timestamp_column: str,
    groups: list[tuple[RegisteredView, list[str]]],
    keys: list[str],
) -> PreparedRows | FileRows:
    """The entity rows, validated: a Parquet file the engine reads itself where it can (the rows never
    cross into Python to be joined), else an Arrow table with row ids and times."""
    from featurestore.retrieve.entity_files import parquet_shape

    path = entity_file(entity_df, engine)
    if path is not None:
        schema, row_count = parquet_shape(path)
        validate(schema, timestamp_column, groups)
        if engine_reads_time(schema, timestamp_column):
            return FileRows.of(engine, path, schema, row_count, timestamp_column, keys)
    table = to_arrow_table(entity_df, engine)
    validate(table, timestamp_column, groups)
    return prepare(table, timestamp_column, keys)

"""Training sets: entity rows + point-in-time joins, compiled to one statement in the engine's dialect."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.dsl import FeatureService
from featurestore.errors import FeatureStoreError, OutputError, SourceError, write_problem
from featurestore.plan import EntityRows, TrainingSetPlan, explain, plan_training_set
from featurestore.registry.model import RegisteredView, Registry, column_order, output_names
from featurestore.retrieve.entity_rows import PreparedRows, check_reach, prepare, to_arrow_table, validate
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


class TrainingSet:
    """A planned training set. Nothing runs until you ask for the rows.

    ``.to_arrow()``, ``.to_polars()``, ``.to_pandas()``, ``.to_parquet(path)`` (streams, never holds
    the whole result), ``.to_batches()``; ``.sql`` and ``.explain()`` show what will run;
    ``.profile()`` the feature columns' statistics.

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
        rows: PreparedRows,
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
        engine.register(self._table_name, rows.keys)

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

    def _attach(self, offset: int, features: pa.Table) -> pa.Table:
        """The entity rows ``[offset, offset + n)`` exactly as given, then the feature columns."""
        import pyarrow as pa

        base = self._rows.output.slice(offset, features.num_rows)
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
        return self._profile_table(self._attach(0, features), profile)

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

        offset = 0
        batches = self._engine.batches(self.sql, batch_size)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except SourceError as exc:
                raise self._explain(exc) from None
            yield self._attach(offset, pa.Table.from_batches([batch]))
            offset += batch.num_rows

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

    def preview(self, rows: int = 10) -> pa.Table:
        try:
            head = self._engine.to_arrow(self._renderer.render_preview(self.sql, rows))
        except SourceError as exc:
            raise self._explain(exc) from None
        return self._attach(0, head)

    def __repr__(self) -> str:
        return f"<TrainingSet {len(self)} rows x {len(self.columns)} columns: {', '.join(self.columns)}>"

    def _repr_html_(self) -> str:
        import polars as pl

        # polars, a core dependency, renders the notebook preview: pandas is only for to_pandas().
        head = pl.DataFrame(self.preview())
        html: str = head._repr_html_()
        return f"<p>TrainingSet: {len(self)} rows x {len(self.columns)} columns</p>{html}"


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
    table = to_arrow_table(entity_df, engine)
    validate(table, timestamp_column, groups)
    outputs = output_names(groups, full_feature_names, taken=table.column_names)
    keys = list(dict.fromkeys(k for rv, _ in groups for k in rv.view.join_keys))
    rows = prepare(table, timestamp_column, keys)
    check_reach(rows, timestamp_column, groups)
    entity = EntityRows(
        table=f"__entity_rows_{next(_counter)}",
        columns=tuple(table.column_names),
        timestamp_column=timestamp_column,
        row_count=table.num_rows,
        min_ts=rows.min_ts,
        max_ts=rows.max_ts,
    )
    order = column_order(pairs, groups, outputs)
    plan = plan_training_set(groups, outputs, entity, root, as_known_at=as_known_at, column_order=order)
    views = tuple({rv.name: rv for rv, _ in groups}.values())
    renderer = renderer_for(engine.capabilities)
    return TrainingSet(engine, plan, renderer.render_training_set(plan), rows, views, root, renderer)

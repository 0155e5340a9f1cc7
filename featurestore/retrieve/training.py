"""Training sets: entity rows + point-in-time joins, compiled to one DuckDB statement."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.dsl import FeatureService
from featurestore.plan import EntityRows, TrainingSetPlan, explain, plan_training_set
from featurestore.registry.model import Registry, output_names
from featurestore.retrieve.entity_rows import prepare, to_arrow_table, validate
from featurestore.sql import render_training_set

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from featurestore.engines.base import Engine

_counter = itertools.count()


class TrainingSet:
    """A planned training set. Nothing runs until you ask for the rows.

    ``.to_arrow()``, ``.to_polars()``, ``.to_pandas()``, ``.to_parquet(path)`` (streams, never holds
    the whole result), ``.to_batches()``; ``.sql`` and ``.explain()`` show what will run.
    """

    def __init__(self, engine: Engine, plan: TrainingSetPlan, sql: str, entity_table: pa.Table) -> None:
        self._engine = engine
        self.plan = plan
        self.sql = sql
        self._table_name = plan.entity.table
        self._entity_table = entity_table  # keeps the registered Arrow data alive
        engine.register(self._table_name, entity_table)

    def __del__(self) -> None:
        # At interpreter shutdown the engine may already be gone: nothing left to release.
        with contextlib.suppress(Exception):
            self._engine.unregister(self._table_name)

    def __len__(self) -> int:
        return self.plan.entity.row_count

    @property
    def columns(self) -> list[str]:
        return [*self.plan.entity.columns, *[f.output for j in self.plan.joins for f in j.features]]

    def explain(self) -> str:
        """The plan, step by step, followed by the SQL it renders to."""
        return f"{explain(self.plan)}\n\n-- SQL (duckdb)\n{self.sql}"

    def to_arrow(self) -> pa.Table:
        return self._engine.to_arrow(self.sql)

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

    def to_batches(self, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        return self._engine.batches(self.sql, batch_size)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the training set to a Parquet file, streaming; the file appears whole or not at all."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._engine.to_parquet(self.sql, target)
        return target

    def preview(self, rows: int = 10) -> pa.Table:
        return self._engine.to_arrow(f"SELECT * FROM ({self.sql}) LIMIT {int(rows)}")

    def __repr__(self) -> str:
        return f"<TrainingSet {len(self)} rows x {len(self.columns)} columns: {', '.join(self.columns)}>"

    def _repr_html_(self) -> str:
        head = self.preview().to_pandas()
        html: str = head.to_html(max_rows=10)
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
    groups = registry.resolve(features)
    table = to_arrow_table(entity_df, engine)
    validate(table, timestamp_column, groups)
    outputs = output_names(groups, full_feature_names, taken=table.column_names)
    prepared, lo, hi = prepare(table, timestamp_column)
    entity = EntityRows(
        table=f"__entity_rows_{next(_counter)}",
        columns=tuple(table.column_names),
        timestamp_column=timestamp_column,
        row_count=table.num_rows,
        min_ts=lo,
        max_ts=hi,
    )
    plan = plan_training_set(groups, outputs, entity, root, as_known_at=as_known_at)
    return TrainingSet(engine, plan, render_training_set(plan), prepared)

"""The hand-checked aggregation tables of ``tests/test_aggregations.py``, run on Spark.

The tests are imported as they are; only their ``repo`` fixture changes: its store plans as usual and
runs the training set's SQL rendered by ``sql/spark_window.py`` on the Spark engine. Each result is
checked by the test's own hand-written table, and column by column against DuckDB (floats within a
relative 1e-9: Spark sums a window's floats plainly, DuckDB exactly). Spark refuses ``as_known_at``
with windowed aggregations (no sweep can test a window's lower edge on the event time while events are
known by their created time): there the wrapper checks the refusal and hands on DuckDB's rows, so the
tables still check the rest; lifetime aggregates as known at ``t`` run on Spark.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from featurestore.engines.spark import SparkEngine
from featurestore.errors import FeatureStoreError
from tests.pit_repo import make_repo, rows, table_of
from tests.test_aggregations import (
    DEFS,
    TYPES,
    entity,
    test_a_window_holding_only_nulls_counts_zero,
    test_aggregation_and_plain_views_in_one_training_set_keep_order_and_columns,
    test_an_event_far_before_the_window_is_outside_it,
    test_as_known_at_ignores_events_created_after_t,
    test_composite_keys_aggregate_per_key_combination,
    test_entity_rows_tied_on_time_and_duplicated_all_get_their_values,
    test_events_sharing_keys_and_time_are_separate_events,
    test_events_with_a_null_key_or_time_are_ignored,
    test_every_function_at_the_window_edges,
    test_feature_services_and_full_feature_names,
    test_integer_and_boolean_columns,
    test_last_breaks_ties_by_created_then_by_value,
    test_lifetime_window_has_no_lower_edge,
    test_null_keys_and_null_times_in_entity_rows_match_nothing,
    test_nulls_in_the_aggregated_column_are_ignored,
    tx_rows,
)

pytestmark = pytest.mark.spark

HAND_CHECKED = (
    test_a_window_holding_only_nulls_counts_zero,
    test_aggregation_and_plain_views_in_one_training_set_keep_order_and_columns,
    test_an_event_far_before_the_window_is_outside_it,
    test_as_known_at_ignores_events_created_after_t,
    test_composite_keys_aggregate_per_key_combination,
    test_entity_rows_tied_on_time_and_duplicated_all_get_their_values,
    test_events_sharing_keys_and_time_are_separate_events,
    test_events_with_a_null_key_or_time_are_ignored,
    test_every_function_at_the_window_edges,
    test_feature_services_and_full_feature_names,
    test_integer_and_boolean_columns,
    test_last_breaks_ties_by_created_then_by_value,
    test_lifetime_window_has_no_lower_edge,
    test_null_keys_and_null_times_in_entity_rows_match_nothing,
    test_nulls_in_the_aggregated_column_are_ignored,
)


def run_on_spark(engine: SparkEngine, plan: Any, entity_rows: pa.Table) -> pa.Table:
    """The feature columns of ``plan`` (planned as for DuckDB) rendered by ``SparkRenderer`` and run on
    Spark (``tests/spark/conftest.py``'s helper renders with ``sql/spark.py`` alone)."""
    from featurestore.retrieve.entity_rows import prepare
    from featurestore.sql.spark_renderer import SparkRenderer

    keys = list(dict.fromkeys(k for join in plan.joins for k in join.keys))
    prepared = prepare(entity_rows, plan.entity.timestamp_column, keys)
    engine.register(plan.entity.table, prepared.keys)
    try:
        return engine.to_arrow(SparkRenderer().render_training_set(plan))
    finally:
        engine.unregister(plan.entity.table)


REL = 1e-9  # Spark's plain float sums against DuckDB's exact ones (README, Spark section)


def same(actual: Any, expected: Any) -> bool:
    """Equal, floats within a relative ``REL`` (and of the same type)."""
    if isinstance(actual, float) and isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=REL, abs_tol=REL) or actual == expected
    return bool(actual == expected) and type(actual) is type(expected)


def assert_same_columns(spark: pa.Table, duckdb: pa.Table, names: list[str]) -> None:
    assert spark.column_names == names
    for name in names:
        assert spark.column(name).type == duckdb.column(name).type, name
        pairs = zip(spark.column(name).to_pylist(), duckdb.column(name).to_pylist(), strict=True)
        for i, (got, want) in enumerate(pairs):
            assert same(got, want), f"{name} row {i}: spark {got!r}, duckdb {want!r}"


class AggregationTrainingSet:
    """A training set planned by the store, its feature columns computed on Spark and checked against
    DuckDB's; as known at ``t`` with windowed aggregations, Spark's refusal is checked instead."""

    def __init__(self, engine: SparkEngine, training: Any, entity_rows: pa.Table, known_at: bool) -> None:
        self.engine, self.training, self.entity, self.known_at = engine, training, entity_rows, known_at

    def to_arrow(self) -> pa.Table:
        duckdb = self.training.to_arrow()
        plan = self.training.plan
        names = list(plan.column_order)
        windowed = any(a.window is not None for join in plan.joins for a in getattr(join, "aggregates", ()))
        if self.known_at and windowed:
            with pytest.raises(FeatureStoreError, match="as_known_at=True with windowed aggregations"):
                run_on_spark(self.engine, plan, self.entity)
            return duckdb
        features = run_on_spark(self.engine, plan, self.entity)
        assert_same_columns(features, duckdb, names)
        base = duckdb.drop_columns(names)
        return pa.Table.from_arrays(
            [*base.columns, *features.columns], names=[*base.column_names, *features.column_names]
        )

    def explain(self) -> str:
        return str(self.training.explain())


class AggregationStore:
    """A store whose training sets run on Spark (``AggregationTrainingSet``)."""

    def __init__(self, store: Any, engine: SparkEngine) -> None:
        self.store, self.engine = store, engine

    def get_training_set(self, entity_df: Any, features: Any, **options: Any) -> AggregationTrainingSet:
        from featurestore.retrieve.entity_rows import to_arrow_table

        training = self.store.get_training_set(entity_df, features, **options)
        known_at = bool(options.get("as_known_at", False))
        return AggregationTrainingSet(self.engine, training, to_arrow_table(entity_df, self.engine), known_at)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def repo(tmp_path: Path, spark: SparkEngine) -> Iterator[Any]:
    """``repo(tx=table, prof=table)`` as in ``tests/test_aggregations.py``, its training sets on Spark."""
    stores: list[Any] = []

    def build(tx: pa.Table | None = None, prof: pa.Table | None = None) -> AggregationStore:
        data = {
            "data/tx.parquet": tx if tx is not None else tx_rows(),
            "data/prof.parquet": prof
            if prof is not None
            else table_of(("customer_id", "ts", "tier"), types=TYPES),
        }
        store = make_repo(tmp_path, DEFS, data)
        stores.append(store)
        return AggregationStore(store, spark)

    yield build
    for store in stores:
        store.close()


def test_every_hand_checked_rule_is_run_here() -> None:
    # The imports above are the tests pytest collects in this module: a test renamed upstream fails here.
    assert len({t.__name__ for t in HAND_CHECKED}) == 15


def test_lifetime_aggregates_as_known_at_run_on_spark(repo: Any) -> None:
    from tests.test_aggregations import C, H, T

    store = repo(
        tx=tx_rows(
            (1, T - 2 * H, T + H, 5.0, 1, "a", True),  # known only after T
            (1, T - 2 * H, C, 1.0, 1, "b", True),
            (1, T - 3 * H, None, 7.0, 1, "c", True),  # a null created time is never known
        )
    )
    names = ["amount_count_lifetime", "amount_sum_lifetime", "merchant_last_lifetime"]
    table = store.get_training_set(entity((1, T), (1, T + H)), [f"tx:{n}" for n in names], as_known_at=True)
    assert rows(table.to_arrow(), *names) == [(1, 1.0, "b"), (2, 6.0, "a")]


def test_windowed_as_known_at_is_refused_naming_the_view(repo: Any) -> None:
    from featurestore.plan.window import plan_window_aggregate
    from featurestore.sql.spark_window import render_window_aggregate

    store = repo().store
    node = plan_window_aggregate(
        store.registry.view("tx"), ["amount_sum_1h"], ["amount_sum_1h"], store.root, as_known_at=True
    )
    with pytest.raises(FeatureStoreError, match=r"feature view 'tx': as_known_at=True .*amount_sum_1h"):
        render_window_aggregate(node, "entity_rows")

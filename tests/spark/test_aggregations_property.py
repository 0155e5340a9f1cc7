"""Spark's windowed aggregations against the pure-Python reference of
``tests/test_aggregations_property.py``, on the same random events full of ties (events tied on time,
entity rows exactly on events and on ``t - window``, null keys, times, created times and values):
the training-set sweep (each result also checked against DuckDB's) and the materialization query as of
one time, with and without ``exclude_current_time`` (the views ``ex`` and ``ev``). Few examples: every
one runs Spark jobs on a 2-core machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.engines.spark import SparkEngine
from featurestore.plan.window import plan_aggregates_at
from featurestore.sql.spark_window_latest import render_aggregates_at
from tests.pit_repo import make_repo, table_of
from tests.spark.test_aggregations import AggregationStore
from tests.test_aggregations_property import (
    AGGREGATES,
    DEFS,
    HEADER,
    POINTS,
    SETTINGS,
    TYPES,
    check_training_set,
    entity,
    events,
    mismatch,
    reference_value,
    requests,
    same,
    view_name,
    write,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, spark: SparkEngine) -> Iterator[AggregationStore]:
    root = tmp_path_factory.mktemp("spark_agg_property")
    with make_repo(root, DEFS, {"data/ev.parquet": table_of(HEADER, types=TYPES)}) as store:
        yield AggregationStore(store, spark)


@settings(max_examples=3, **SETTINGS)
@given(body=events, entity_rows=entity, wanted=requests, exclude=st.booleans())
def test_spark_training_sets_match_the_reference(
    store: AggregationStore,
    body: list[tuple[Any, ...]],
    entity_rows: list[tuple[Any, Any]],
    wanted: list[str],
    exclude: bool,
) -> None:
    check_training_set(store, body, entity_rows, wanted, False, exclude)  # type: ignore[arg-type]


@settings(max_examples=2, **SETTINGS)
@given(body=events, at=st.sampled_from(POINTS), exclude=st.booleans())
def test_spark_materialization_query_matches_the_reference(
    store: AggregationStore, body: list[tuple[Any, ...]], at: datetime, exclude: bool
) -> None:
    data = write(store.store, body)
    plan = plan_aggregates_at(store.registry.view(view_name(exclude)), store.root, end=at)
    result = store.engine.to_arrow(render_aggregates_at(plan))
    keys = sorted({r["customer_id"] for r in data if r["customer_id"] is not None and r["ts"] is not None
                   and (r["ts"] < at if exclude else r["ts"] <= at)})  # fmt: skip
    assert sorted(result.column("customer_id").to_pylist()) == keys
    for row in result.to_pylist():
        for aggregate in AGGREGATES:
            expected = reference_value(data, row["customer_id"], at, aggregate, False, exclude)
            actual = row[aggregate[3]]
            assert same(actual, expected), mismatch(
                data, row["customer_id"], at, aggregate[3], actual, expected
            )

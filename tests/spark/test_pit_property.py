"""A store with ``engine = "spark"`` against the pure-Python reference of
``tests/test_pit_property.py``, on the same random data full of ties (null keys, null times, null
created times, null feature values, entity rows exactly on feature rows and on ``t - ttl``), in both
modes; each result is also checked against DuckDB's on the same repo.
Few examples: every one runs Spark jobs on a 2-core machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pit_repo import table_of
from tests.spark.conftest import ComparedStore, spark_repo
from tests.test_pit_property import (
    A_HEADER,
    A_TYPES,
    ALL_FEATURES,
    B_HEADER,
    B_TYPES,
    DEFS,
    FAST,
    LAGS,
    TIE_ENTITY_ROWS,
    TIED_AT,
    a_rows,
    b_rows,
    check,
    entity,
    maybe,
    requests,
    with_created,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> Iterator[ComparedStore]:
    root = tmp_path_factory.mktemp("spark_pit_property")
    empty = {
        "data/a.parquet": table_of(A_HEADER, types=A_TYPES),
        "data/b.parquet": table_of(B_HEADER, types=B_TYPES),
    }
    with ComparedStore(spark_repo(root, DEFS, empty)) as store:
        yield store


@pytest.mark.filterwarnings("ignore::featurestore.errors.AsKnownAtIgnoredWarning")
@settings(FAST, max_examples=6)
@given(a=a_rows, b=b_rows, entity_rows=entity, features=requests)
def test_spark_matches_the_reference(
    store: ComparedStore,
    a: list[tuple[Any, ...]],
    b: list[tuple[Any, ...]],
    entity_rows: list[tuple[int | None, datetime | None]],
    features: list[str],
) -> None:
    check(store, a, b, entity_rows, features)


@settings(FAST, max_examples=3)
@given(
    a=st.lists(st.tuples(maybe(LAGS), maybe([0, 1, 2]), maybe(["b", "", "a"])), min_size=2, max_size=6),
    b=st.lists(st.tuples(maybe([0.5, 1.5, -2.0]), maybe([False, True])), min_size=2, max_size=6),
)
def test_spark_ties_match_the_reference(
    store: ComparedStore, a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]
) -> None:
    a_body = [with_created((1, TIED_AT, *row)) for row in a]
    b_body = [(1, TIED_AT, *row) for row in b]
    check(store, a_body, b_body, TIE_ENTITY_ROWS, ALL_FEATURES)

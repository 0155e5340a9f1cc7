"""The hand-checked tables of ``tests/test_exclude_current_time.py`` on Spark: the tests are imported as
they are, with a ``store`` on ``engine = "spark"`` whose training sets are also built on DuckDB and
compared (``ComparedStore``). Spark refuses ``as_known_at`` with windowed aggregations, so as known at
``t`` only the lifetime aggregates are checked here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pit_repo import rows
from tests.spark.conftest import ComparedStore, spark_repo
from tests.test_exclude_current_time import (
    AGG_EXPECTED,
    DEFS,
    T10,
    T11,
    T1030,
    entity_rows,
    seed,
    test_a_plain_view_as_known_at_leaves_out_the_row_at_t,
    test_a_plain_view_leaves_out_the_row_at_t,
    test_an_event_at_t_is_found_by_a_later_entity_row,
    test_online_equals_offline_after_materializing_to_the_time_of_an_event,
)

pytestmark = pytest.mark.spark

__all__ = [
    "test_a_plain_view_as_known_at_leaves_out_the_row_at_t",
    "test_a_plain_view_leaves_out_the_row_at_t",
    "test_an_event_at_t_is_found_by_a_later_entity_row",
    "test_online_equals_offline_after_materializing_to_the_time_of_an_event",
]


@pytest.fixture
def store(tmp_path: Path, spark_session: Any) -> Iterator[ComparedStore]:
    with ComparedStore(spark_repo(tmp_path, DEFS, seed(tmp_path))) as store:
        yield store


@pytest.mark.parametrize("as_known_at", [False, True])
def test_spark_windows_and_lifetime_leave_out_the_events_at_t(
    store: ComparedStore, as_known_at: bool
) -> None:
    names = [n for n in AGG_EXPECTED if not as_known_at or n.endswith("_life")]
    refs = [f"{v}:{n}" for n in names for v in ("agg", "agg_x")]
    result = store.get_training_set(
        entity_rows("customer_id", T10, T1030, T11), refs, full_feature_names=True, as_known_at=as_known_at
    ).to_arrow()
    for name in names:
        assert rows(result, f"agg__{name}", f"agg_x__{name}") == AGG_EXPECTED[name], name

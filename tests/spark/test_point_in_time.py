"""The hand-checked point-in-time tables of ``tests/test_point_in_time.py``, run on Spark.

The tests are imported as they are; only their ``repo`` fixture changes: a real ``FeatureStore`` with
``[offline] engine = "spark"`` applies the repo and builds each training set on Spark. Each result is
checked by the test's own hand-written table, and column by column against DuckDB's on the same repo
(``ComparedStore``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.test_point_in_time as on_duckdb
from tests.spark.conftest import ComparedStore, spark_repo
from tests.test_point_in_time import (
    DEFS,
    HEADERS,
    SOURCES_DEFS,
    feature_rows,
    test_a_feature_service_with_a_subset_and_a_whole_view,
    test_a_null_join_key_in_an_entity_row_matches_nothing,
    test_a_view_over_a_csv_file,
    test_a_view_over_a_hive_partitioned_folder,
    test_a_view_over_a_sql_source,
    test_an_empty_entity_df_gives_an_empty_result_with_the_right_schema,
    test_an_entity_row_with_a_null_timestamp_gets_null_features,
    test_as_known_at_ignores_values_created_after_t,
    test_composite_keys_match_on_every_key_and_never_partially,
    test_date_entity_timestamps_mean_midnight_utc,
    test_every_input_column_passes_through_unchanged_before_the_features,
    test_feature_rows_with_a_null_key_or_null_event_time_are_ignored,
    test_full_feature_names_are_view_double_underscore_feature,
    test_naive_and_aware_entity_timestamps_of_the_same_instant_agree,
    test_nanosecond_entity_timestamps_are_truncated_to_microseconds,
    test_no_candidate_nulls_every_feature_of_that_view_only,
    test_no_ttl_means_no_lower_bound,
    test_one_output_row_per_input_row_in_input_order_with_duplicates_kept,
    test_polars_and_pandas_input_columns_pass_through_unchanged,
    test_row_exactly_at_t_counts_and_a_row_one_microsecond_later_does_not,
    test_rows_tied_on_both_timestamps_go_to_the_greatest_feature_values,
    test_several_views_with_different_ttls_in_one_request,
    test_string_join_keys,
    test_ties_in_a_source_without_created_column_go_to_the_greatest_feature_values,
    test_ties_on_event_time_go_to_the_greatest_created_time,
    test_ttl_lower_bound_is_inclusive,
    test_zoned_and_duration_input_columns_pass_through_unchanged,
)

pytestmark = pytest.mark.spark

HAND_CHECKED = (
    test_a_feature_service_with_a_subset_and_a_whole_view,
    test_an_empty_entity_df_gives_an_empty_result_with_the_right_schema,
    test_every_input_column_passes_through_unchanged_before_the_features,
    test_full_feature_names_are_view_double_underscore_feature,
    test_polars_and_pandas_input_columns_pass_through_unchanged,
    test_zoned_and_duration_input_columns_pass_through_unchanged,
    test_a_view_over_a_csv_file,
    test_a_view_over_a_hive_partitioned_folder,
    test_a_view_over_a_sql_source,
    test_a_null_join_key_in_an_entity_row_matches_nothing,
    test_an_entity_row_with_a_null_timestamp_gets_null_features,
    test_as_known_at_ignores_values_created_after_t,
    test_composite_keys_match_on_every_key_and_never_partially,
    test_date_entity_timestamps_mean_midnight_utc,
    test_feature_rows_with_a_null_key_or_null_event_time_are_ignored,
    test_naive_and_aware_entity_timestamps_of_the_same_instant_agree,
    test_nanosecond_entity_timestamps_are_truncated_to_microseconds,
    test_no_candidate_nulls_every_feature_of_that_view_only,
    test_no_ttl_means_no_lower_bound,
    test_one_output_row_per_input_row_in_input_order_with_duplicates_kept,
    test_row_exactly_at_t_counts_and_a_row_one_microsecond_later_does_not,
    test_rows_tied_on_both_timestamps_go_to_the_greatest_feature_values,
    test_several_views_with_different_ttls_in_one_request,
    test_string_join_keys,
    test_ties_in_a_source_without_created_column_go_to_the_greatest_feature_values,
    test_ties_on_event_time_go_to_the_greatest_created_time,
    test_ttl_lower_bound_is_inclusive,
)


@pytest.fixture
def repo(tmp_path: Path, spark_session: Any) -> Iterator[Any]:
    """``repo(stats=table, ...)`` as in ``tests/test_point_in_time.py``, on a store with engine = spark."""
    stores: list[ComparedStore] = []

    def build(**tables: Any) -> ComparedStore:
        data = {f"data/{name}.parquet": tables.get(name, feature_rows(name)) for name in HEADERS}
        store = ComparedStore(spark_repo(tmp_path, DEFS, data))
        stores.append(store)
        return store

    yield build
    for store in stores:
        store.close()


@pytest.fixture
def sources_store(tmp_path: Path, spark_session: Any) -> Iterator[ComparedStore]:
    """The SQL, CSV and hive-partitioned sources of ``tests/test_point_in_time.py`` on Spark (the SQL
    source declared ``dialect="spark"``: its query is Spark SQL too), compared with DuckDB's repo."""
    duckdb_stores = on_duckdb.sources_store.__wrapped__(tmp_path / "duckdb")
    duckdb = next(duckdb_stores)
    shutil.copytree(tmp_path / "duckdb" / "data", tmp_path / "spark" / "data")
    defs = SOURCES_DEFS.replace('name="sql_src",', 'name="sql_src", dialect="spark",')
    assert defs != SOURCES_DEFS
    store = ComparedStore(spark_repo(tmp_path / "spark", defs), duckdb=duckdb)
    yield store
    store.close()
    next(duckdb_stores, None)


def test_every_hand_checked_rule_is_run_here() -> None:
    # The imports above are the tests pytest collects in this module: a test renamed upstream fails here.
    assert len({t.__name__ for t in HAND_CHECKED}) == 27

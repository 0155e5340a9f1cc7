"""Validation's engine queries on Spark: the same reports as on DuckDB, latest rows and all rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.spark.conftest import on_duckdb, spark_repo, spark_session  # noqa: F401  (the session fixture)
from tests.validation.test_validate import DATA, DEFS, T

pytestmark = pytest.mark.spark


def test_spark_and_duckdb_give_the_same_reports(tmp_path: Path, spark_session: Any) -> None:  # noqa: F811
    store = spark_repo(tmp_path, DEFS, DATA)
    duckdb = on_duckdb(store)
    for all_rows in (False, True):
        on_spark = store.validate(end=T, all_rows=all_rows)
        assert on_spark == duckdb.validate(end=T, all_rows=all_rows)
        assert on_spark.violations
    assert [v.rule for v in store.validate(end=T, all_rows=True).errors] == [
        "RowCount(min=1, max=3)",
        "Between(0, 1)",
    ]

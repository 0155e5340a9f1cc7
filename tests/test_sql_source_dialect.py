"""``SqlSource(dialect=...)``: the dialect its query is written in. It must be the engine's (refused at
apply otherwise, before anything changes); a non-default dialect is part of the data fingerprint, the
default one is not (fingerprints of sources written before the field existed stay the same)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore import Entity, Feature, FeatureView, SqlSource
from featurestore.errors import DefinitionError
from tests.pit_repo import make_repo, naive, rows

QUERY = "SELECT * FROM read_parquet('data/clicks.parquet')"


def _view(source: SqlSource) -> FeatureView:
    return FeatureView(
        name="clicks",
        entities=[Entity(name="user", join_keys=["user_id"])],
        source=source,
        ttl=timedelta(days=1),
        features=[Feature("clicks", "int64")],
    )


def test_the_default_dialect_leaves_fingerprints_as_they_were() -> None:
    source = SqlSource(name="clicks", query=QUERY, timestamp_field="ts")
    assert source.dialect == "duckdb"
    assert "dialect" not in source.data_identity()
    # Computed before SqlSource had a dialect, for this very definition.
    assert _view(source).data_fingerprint() == "31a2419906556186"
    explicit = SqlSource(name="clicks", query=QUERY, timestamp_field="ts", dialect="DuckDB")
    assert _view(explicit).data_fingerprint() == "31a2419906556186"


def test_another_dialect_is_another_data_fingerprint() -> None:
    spark = SqlSource(name="clicks", query=QUERY, timestamp_field="ts", dialect="spark")
    assert spark.data_identity()["dialect"] == "spark"
    assert _view(spark).data_fingerprint() != "31a2419906556186"


def test_a_dialect_must_be_a_name() -> None:
    with pytest.raises(DefinitionError, match=r"SqlSource 'clicks'.*dialect 'duck db' is not a SQL dialect"):
        SqlSource(name="clicks", query=QUERY, dialect="duck db")


DEFS = """
user = Entity(name="user", join_keys=["user_id"])
src = SqlSource(name="clicks_src", query="SELECT * FROM read_parquet('data/clicks.parquet')",
                timestamp_field="ts", dialect="{dialect}")
clicks = FeatureView(name="clicks", entities=[user], source=src, ttl=timedelta(days=1),
                     features=[Feature("clicks", "int64")])
"""
DATA = {
    "data/clicks.parquet": {
        "user_id": [1, 1, 2],
        "ts": [naive(2024, 1, 1), naive(2024, 1, 2), naive(2024, 1, 1)],
        "clicks": [3, 5, 7],
    }
}


def test_apply_refuses_a_query_in_another_dialect_before_anything_changes(tmp_path: Path) -> None:
    store = make_repo(tmp_path, DEFS.format(dialect="spark"), DATA, apply=False)
    with pytest.raises(DefinitionError) as caught:
        store.apply()
    message = str(caught.value)
    assert message.startswith("SqlSource 'clicks_src' (")
    assert re.search(r"\(.*definitions/\w+\.py:\d+\)", message)  # file:line of the definition
    assert "dialect 'spark' but the engine runs 'duckdb'" in message
    assert "Rewrite its query in duckdb and set dialect='duckdb'" in message
    assert not (tmp_path / ".featurestore" / "registry.json").exists()
    assert not (tmp_path / ".featurestore" / "state.json").exists()


def test_a_query_in_the_engines_dialect_applies_and_serves_training_sets(tmp_path: Path) -> None:
    store = make_repo(tmp_path, DEFS.format(dialect="duckdb"), DATA)
    entity_rows = {
        "user_id": [1, 2, 1],
        "event_timestamp": [naive(2024, 1, 3), naive(2024, 1, 1), naive(2024, 1, 1, 12)],
    }
    training = store.get_training_set(pa.table(entity_rows), ["clicks:clicks"])
    assert "-- SQL (duckdb)" in training.explain()
    # user 1 at Jan 3: the Jan 2 row (5); user 2 at Jan 1: its Jan 1 row (7); user 1 at Jan 1 12:00: 3.
    assert rows(training.to_arrow(), "user_id", "clicks") == [(1, 5), (2, 7), (1, 3)]

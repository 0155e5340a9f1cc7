"""SQL from a caller (entity rows given as a query) is data: one read-only query over its own values.

Anything else (a second statement, a file write or read, ATTACH, INSTALL, DDL) is refused with a clear
error before anything runs, and even a query that slipped past the check runs where it can reach no file
and no network. Definitions' sources (code, trusted) still read their files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.errors import EntityRowsError
from tests.pit_repo import make_repo

DEFINITIONS = """
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=None,
    source=FileSource(name="stats_src", path="data/stats.parquet", timestamp_field="ts"),
    features=[Feature("trips", "int64")],
)
"""

T = datetime(2024, 1, 1, 12)
FEATURES = ["--features", "stats:trips"]
GOOD = "SELECT 1::BIGINT AS driver_id, TIMESTAMP '2024-01-01 12:00:00' AS event_timestamp"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeatureStore]:
    root = tmp_path / "repo"
    data = {"driver_id": [1, 2], "ts": [T, T], "trips": [3, 4]}
    built = make_repo(root, DEFINITIONS, {"data/stats.parquet": data}, types={"driver_id": pa.int64()})
    # Relative paths in the SQL below land here, where the test looks for them.
    monkeypatch.chdir(root)
    yield built
    built.close()


def files_under(*roots: Path) -> set[str]:
    return {str(p) for root in roots for p in root.rglob("*") if "__pycache__" not in p.parts}


REFUSED = {
    "COPY to a file": ("COPY (SELECT 1) TO 'copied.csv'", ["one query", "COPY"]),
    "a query, then COPY": (f"{GOOD}; COPY (SELECT 1) TO 'copied.csv'", ["2 statements"]),
    "ATTACH": ("ATTACH 'attached.db' AS other", ["ATTACH"]),
    "INSTALL an extension": ("INSTALL httpfs", ["INSTALL"]),
    "LOAD an extension": ("LOAD httpfs", ["LOAD"]),
    "CREATE TABLE": ("CREATE TABLE made AS SELECT 1 AS driver_id", ["CREATE"]),
    "a setting": ("SET enable_external_access = true", ["SET"]),
    "PRAGMA": ("PRAGMA database_list", ["PRAGMA"]),
    "read_csv of a system file": ("SELECT * FROM read_csv('/etc/passwd')", ["READ_CSV", "files"]),
    "a file named as a table": ("SELECT * FROM '/etc/passwd'", ["/etc/passwd"]),
    "read_text in a subquery": (
        "SELECT 1 AS driver_id, (SELECT count(*) FROM read_text('/etc/hostname')) AS n",
        ["READ_TEXT"],
    ),
    "read_parquet over the network": (
        "SELECT * FROM read_parquet('https://example.com/rows.parquet')",
        ["READ_PARQUET"],
    ),
    "a file in the repo": ("SELECT * FROM read_parquet('data/stats.parquet')", ["READ_PARQUET", "path"]),
    "a DML statement inside a CTE": (
        "WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x",
        ["INSERT"],
    ),
    "another training set's rows": ("SELECT * FROM __entity_rows_0", ["__entity_rows_0"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_caller_sql_that_is_not_one_read_only_query_is_refused(
    store: FeatureStore, tmp_path: Path, case: str
) -> None:
    sql, words = REFUSED[case]
    before = files_under(tmp_path, Path.home() / ".duckdb")
    with pytest.raises(EntityRowsError) as info:
        store.get_training_set(sql, ["stats:trips"])
    message = str(info.value)
    assert "entity rows" in message
    assert "read-only query" in message
    for word in words:
        assert word in message, message
    assert "root:" not in message  # never the content of a file
    assert files_under(tmp_path, Path.home() / ".duckdb") == before
    for name in ("copied.csv", "attached.db"):
        assert not (store.root / name).exists()
        assert not Path(os.getcwd(), name).exists()


def test_the_command_line_refuses_it_in_one_red_line(store: FeatureStore, tmp_path: Path) -> None:
    before = files_under(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["--repo", str(store.root), "training-set", "--entities", "COPY (SELECT 1) TO 'x.csv'", *FEATURES],
    )
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "CallerQueryError" in lines[0]
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO 'copied.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH 'attached.db' AS other",
        "INSTALL httpfs",
    ],
)
def test_sql_that_slips_past_the_check_still_reaches_no_file(
    store: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str
) -> None:
    """The check gives the clear message; the connection the query runs on is what enforces it."""
    import featurestore.engines.duckdb as engine_module

    monkeypatch.setattr(engine_module, "parse_query", _parse_anything)
    monkeypatch.setattr(engine_module, "check_self_contained", lambda tree: None)
    before = files_under(tmp_path, Path.home() / ".duckdb")
    with pytest.raises(EntityRowsError, match=r"entity rows.*(disabled|refused)") as info:
        store.get_training_set(sql, ["stats:trips"])
    assert "root:" not in str(info.value)
    assert files_under(tmp_path, Path.home() / ".duckdb") == before


def _parse_anything(sql: str) -> object:
    import sqlglot

    return sqlglot.parse_one(sql, read="duckdb")


GOOD_QUERIES = {
    "a SELECT": GOOD,
    "VALUES": (
        "SELECT * FROM (VALUES (1::BIGINT, TIMESTAMP '2024-01-01 12:00:00')) AS t(driver_id, event_timestamp)"
    ),
    "a CTE over range": (
        "WITH ids AS (SELECT i::BIGINT AS driver_id FROM range(1, 3) t(i)) "
        "SELECT driver_id, TIMESTAMP '2024-01-01 12:00:00' AS event_timestamp FROM ids ORDER BY driver_id"
    ),
    "a zoned time": "SELECT 2::BIGINT AS driver_id, TIMESTAMPTZ '2024-01-01 14:00:00+02' AS event_timestamp",
    "unnest": (
        "SELECT unnest([1, 2])::BIGINT AS driver_id, TIMESTAMP '2024-01-01 12:00:00' AS event_timestamp"
    ),
}


@pytest.mark.parametrize("case", list(GOOD_QUERIES))
def test_a_read_only_query_over_its_own_values_still_works(store: FeatureStore, case: str) -> None:
    out = store.get_training_set(GOOD_QUERIES[case], ["stats:trips"]).to_arrow()
    assert out.num_rows >= 1
    assert set(out.column("trips").to_pylist()) <= {3, 4}
    assert out.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert out.column("event_timestamp")[0].as_py() == datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_definitions_still_read_their_files(store: FeatureStore) -> None:
    # Sources are code: a SqlSource may read files under the repo; only caller SQL is confined.
    (store.root / "definitions" / "more.py").write_text(
        "from featurestore import Feature, FeatureView, SqlSource\n"
        "from definitions.defs import driver\n"
        "doubled = FeatureView(name='doubled', entities=[driver], ttl=None,\n"
        "    features=[Feature('trips', 'int64')],\n"
        "    source=SqlSource(name='doubled_src', timestamp_field='ts',\n"
        '        query="SELECT driver_id, ts, trips * 2 AS trips "\n'
        "              \"FROM read_parquet('data/stats.parquet')\"),\n"
        ")\n"
    )
    store.apply()
    out = store.get_training_set(GOOD, ["doubled:trips"]).to_arrow()
    assert out.column("trips").to_pylist() == [6]

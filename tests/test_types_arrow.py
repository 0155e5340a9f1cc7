"""Source column types cross the engine seam as Arrow: a DuckDB column type -> ``Engine.schema_of`` ->
the Arrow name the registry stores -> the answers of the checks; and a registry written before, with
DuckDB names (format 1), read by this version."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.config import DuckDBConfig
from featurestore.dsl.aggregation import column_kind
from featurestore.dsl.dtypes import (
    DTYPES,
    arrow_type_from_name,
    canonical_arrow_type,
    is_compatible,
    is_nanosecond,
    is_time_type,
    is_zoned,
    time_unit,
    type_name,
)
from featurestore.engines.duckdb import DuckDBEngine
from featurestore.errors import RegistryError
from featurestore.registry.model import REGISTRY_FORMAT, Registry
from featurestore.sql.duckdb_types import duckdb_type


class Row(NamedTuple):
    sql: str  # the DuckDB column type
    arrow: pa.DataType  # what schema_of returns
    name: str  # what the registry stores
    unit: str | None  # time_unit
    zoned: bool
    kind: str  # column_kind
    feeds: frozenset[str]  # the feature dtypes the column may be read as


NUMBERS = frozenset({"int32", "int64", "float32", "float64"})
TIMES = frozenset({"timestamp"})

ROWS = [
    Row("TINYINT", pa.int8(), "int8", None, False, "integer", NUMBERS),
    Row("SMALLINT", pa.int16(), "int16", None, False, "integer", NUMBERS),
    Row("INTEGER", pa.int32(), "int32", None, False, "integer", NUMBERS),
    Row("BIGINT", pa.int64(), "int64", None, False, "integer", frozenset({"int64", "float64"})),
    Row("UTINYINT", pa.uint8(), "uint8", None, False, "integer", NUMBERS),
    Row("UINTEGER", pa.uint32(), "uint32", None, False, "integer", frozenset({"int64", "float64"})),
    Row("UBIGINT", pa.uint64(), "uint64", None, False, "integer", frozenset()),
    Row("HUGEINT", pa.decimal128(38, 0), "decimal128(38, 0)", None, False, "integer", NUMBERS - {"int32"}),
    Row(
        "DECIMAL(10,2)",
        pa.decimal128(10, 2),
        "decimal128(10, 2)",
        None,
        False,
        "float",
        NUMBERS - {"int32", "int64"},
    ),
    Row("FLOAT", pa.float32(), "float", None, False, "float", frozenset({"float32", "float64"})),
    Row("DOUBLE", pa.float64(), "double", None, False, "float", frozenset({"float64"})),
    Row("BOOLEAN", pa.bool_(), "bool", None, False, "bool", frozenset({"bool"})),
    Row("VARCHAR", pa.string(), "string", None, False, "string", frozenset({"string", "bytes"})),
    Row("BLOB", pa.binary(), "binary", None, False, "bytes", frozenset({"bytes"})),
    Row("DATE", pa.date32(), "date32[day]", "day", False, "date", frozenset({"date", "timestamp"})),
    Row("TIMESTAMP_S", pa.timestamp("s"), "timestamp[s]", "s", False, "timestamp", TIMES),
    Row("TIMESTAMP_MS", pa.timestamp("ms"), "timestamp[ms]", "ms", False, "timestamp", TIMES),
    Row("TIMESTAMP", pa.timestamp("us"), "timestamp[us]", "us", False, "timestamp", TIMES),
    Row("TIMESTAMP_NS", pa.timestamp("ns"), "timestamp[ns]", "ns", False, "timestamp", TIMES),
    Row("TIMESTAMPTZ", pa.timestamp("us", tz="UTC"), "timestamp[us, tz=UTC]", "us", True, "timestamp", TIMES),
    Row(
        "TIMESTAMPTZ_NS",
        pa.timestamp("ns", tz="UTC"),
        "timestamp[ns, tz=UTC]",
        "ns",
        True,
        "timestamp",
        TIMES,
    ),
    Row(
        "INTEGER[]", pa.list_(pa.field("l", pa.int32())), "list<l: int32>", None, False, "other", frozenset()
    ),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEngine:
    return DuckDBEngine(DuckDBConfig(), tmp_path_factory.mktemp("engine"))


@pytest.mark.parametrize("row", ROWS, ids=[r.sql for r in ROWS])
def test_a_duckdb_column_type_becomes_one_arrow_name_and_its_answers(engine: DuckDBEngine, row: Row) -> None:
    query = f"SELECT CAST(NULL AS {row.sql}) AS x"
    found = engine.schema_of(query)["x"]
    assert found == row.arrow
    assert engine.to_arrow(query).schema.field("x").type == found  # the type the values come back as
    assert type_name(found) == row.name
    assert arrow_type_from_name(row.name) == row.arrow
    assert time_unit(row.name) == row.unit
    assert is_time_type(row.name) is (row.unit is not None)
    assert is_nanosecond(row.name) is (row.unit == "ns")
    assert is_zoned(row.name) is row.zoned
    assert column_kind(row.name) == row.kind
    assert {d for d in DTYPES if is_compatible(d, row.name)} == row.feeds
    assert {d for d in DTYPES if is_compatible(d, found)} == row.feeds  # a pa.DataType answers alike
    if row.kind != "other":  # the renderer's DuckDB type for the name is the column's type again
        again = engine.schema_of(f"SELECT CAST(NULL AS {duckdb_type(row.name)}) AS x")["x"]
        assert again == row.arrow


def test_parquet_columns_come_back_as_the_types_duckdb_reads(engine: DuckDBEngine, tmp_path: Path) -> None:
    stamp = datetime(2024, 1, 1, 12)
    columns = {
        "ts_s": pa.array([stamp], pa.timestamp("s")),
        "ts_ms_ny": pa.array([stamp], pa.timestamp("ms", tz="America/New_York")),
        "ts_ns": pa.array([stamp], pa.timestamp("ns")),
        "ts_ns_ny": pa.array([stamp], pa.timestamp("ns", tz="America/New_York")),
        "day": pa.array([stamp.date()], pa.date32()),
        "text": pa.array(["a"], pa.large_string()),
        "amount": pa.array([Decimal("1.50")], pa.decimal128(6, 2)),
    }
    pq.write_table(pa.table(columns), tmp_path / "f.parquet")
    schema = engine.schema_of(f"SELECT * FROM read_parquet('{tmp_path / 'f.parquet'}')")
    # DuckDB reads naive seconds as microseconds and zoned times as UTC instants (microseconds below ns).
    assert {c: type_name(t) for c, t in schema.items()} == {
        "ts_s": "timestamp[us]",
        "ts_ms_ny": "timestamp[us, tz=UTC]",
        "ts_ns": "timestamp[ns]",
        "ts_ns_ny": "timestamp[ns, tz=UTC]",
        "day": "date32[day]",
        "text": "string",
        "amount": "decimal128(6, 2)",
    }


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        (pa.large_string(), pa.string()),
        (pa.string_view(), pa.string()),
        (pa.large_binary(), pa.binary()),
        (pa.timestamp("us", tz="Etc/UTC"), pa.timestamp("us", tz="UTC")),
        (pa.timestamp("ns", tz="America/New_York"), pa.timestamp("ns", tz="America/New_York")),
        (pa.int64(), pa.int64()),
    ],
)
def test_one_arrow_type_per_meaning(given: pa.DataType, canonical: pa.DataType) -> None:
    assert canonical_arrow_type(given) == canonical
    assert type_name(given) == str(canonical)


@pytest.mark.parametrize(
    "kind",
    [
        pa.timestamp("ms", tz="+01:00"),
        pa.decimal256(50, 3),
        pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))]),
        pa.map_(pa.string(), pa.float64()),
        pa.list_(pa.int32(), 3),
        pa.time64("us"),
        pa.month_day_nano_interval(),
    ],
    ids=str,
)
def test_every_name_reads_back_as_its_type(kind: pa.DataType) -> None:
    assert arrow_type_from_name(str(kind)) == kind


def test_an_engine_type_name_is_refused_with_what_to_pass() -> None:
    with pytest.raises(ValueError, match=r"'VARCHAR' is an engine's type name.*'int64'"):
        is_compatible("string", "VARCHAR")
    with pytest.raises(ValueError, match=r"'geometry' is not an Arrow type name"):
        arrow_type_from_name("geometry")


# -- a registry written before: DuckDB type names, format 1 ---------------------------------------------

DEFINITIONS = """\
from datetime import timedelta

from featurestore import Entity, Feature, FeatureView, FileSource

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=1),
    source=FileSource(name="stats_src", path="data/stats.parquet", timestamp_field="ts",
                      created_timestamp_field="created"),
    features=[Feature("rate", "float64"), Feature("trips", "int64")],
)
"""

_ENTITY = {
    "name": "driver",
    "description": "",
    "tags": {},
    "owner": "",
    "defined_at": "definitions/defs.py:5",
}
_SOURCE = {
    "name": "stats_src",
    "description": "",
    "tags": {},
    "owner": "",
    "defined_at": "definitions/defs.py:8",
    "timestamp_field": "ts",
    "created_timestamp_field": "created",
    "kind": "file",
    "path": "data/stats.parquet",
    "file_format": None,
    "hive_partitioning": False,
}


def format_1_registry(**schema_overrides: str) -> dict[str, object]:
    """A registry.json as the version before Arrow names wrote it for DEFINITIONS (hand-copied)."""
    entity = {**_ENTITY, "join_keys": ["driver_id"]}
    view = {
        "name": "stats",
        "description": "",
        "tags": {},
        "owner": "",
        "defined_at": "definitions/defs.py:6",
        "entities": [entity],
        "source": _SOURCE,
        "features": [
            {"name": "rate", "dtype": "float64", "description": ""},
            {"name": "trips", "dtype": "int64", "description": ""},
        ],
        "ttl": "P1D",
        "online": True,
        "aggregations": [],
    }
    schema = {
        "driver_id": "BIGINT",
        "ts": "TIMESTAMP_NS",
        "created": "TIMESTAMPTZ_NS",
        "rate": "DECIMAL(10,2)",
        "trips": "INTEGER",
        "note": "VARCHAR",
        **schema_overrides,
    }
    return {
        "format": 1,
        "project": "fixture",
        "entities": {"driver": entity},
        "sources": {"stats_src": _SOURCE},
        "views": {
            "stats": {
                "view": view,
                "data_fingerprint": "fd52d295957a3c59",
                "metadata_fingerprint": "a1db7e396ef6434b",
                "source_schema": schema,
            }
        },
        "services": {},
        "on_demand_views": {},
    }


UPGRADED_SCHEMA = {
    "driver_id": "int64",
    "ts": "timestamp[ns]",
    "created": "timestamp[ns, tz=UTC]",
    "rate": "decimal128(10, 2)",
    "trips": "int32",
    "note": "string",
}


def old_repo(root: Path, registry: dict[str, object]) -> Path:
    (root / "definitions").mkdir(parents=True)
    (root / "definitions" / "defs.py").write_text(DEFINITIONS)
    (root / "featurestore.toml").write_text('project = "fixture"\n')
    (root / "data").mkdir()
    table = pa.table(
        {
            "driver_id": pa.array([1, 1, 2], pa.int64()),
            "ts": pa.array(
                [datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 13), datetime(2024, 1, 1, 12)],
                pa.timestamp("ns"),
            ),
            "created": pa.array([datetime(2024, 1, 2)] * 3, pa.timestamp("ns", tz="UTC")),
            "rate": pa.array([Decimal("1.25"), Decimal("2.50"), Decimal("3.75")], pa.decimal128(10, 2)),
            "trips": pa.array([3, 4, 5], pa.int32()),
            "note": pa.array(["a", "b", "c"]),
        }
    )
    pq.write_table(table, root / "data" / "stats.parquet")
    path = root / ".featurestore" / "registry.json"
    path.parent.mkdir()
    path.write_text(json.dumps(registry, indent=1))
    return path


def test_a_format_1_registry_is_read_with_arrow_names_and_serves(tmp_path: Path) -> None:
    path = old_repo(tmp_path, format_1_registry())
    with FeatureStore(tmp_path) as store:
        registry = store.registry
        assert registry.format == REGISTRY_FORMAT == 3
        assert registry.view("stats").source_schema == UPGRADED_SCHEMA
        # Nothing moves online (the hand-copied file's metadata fingerprint has other entity file:lines).
        assert [c.kind for c in store.plan().changes] in ([], ["metadata"])
        rows = pa.table(
            {
                "driver_id": [1, 1, 2],
                "event_timestamp": pa.array(
                    [datetime(2024, 1, 1, 12, 30), datetime(2024, 1, 1, 13), datetime(2024, 1, 1, 11)],
                    pa.timestamp("us"),
                ),
            }
        )
        out = store.get_training_set(rows, ["stats:rate", "stats:trips"]).to_arrow()
        assert out.column("rate").to_pylist() == [1.25, 2.5, None]
        assert out.column("trips").to_pylist() == [3, 4, None]
        assert json.loads(path.read_text())["format"] == 1  # reading never rewrites the file
        store.apply()
    assert json.loads(path.read_text())["format"] == 3
    assert json.loads(path.read_text())["views"]["stats"]["source_schema"] == UPGRADED_SCHEMA
    assert Registry.from_json(json.dumps(format_1_registry())).view("stats").source_schema == UPGRADED_SCHEMA


def test_an_old_type_without_an_arrow_name_names_the_file_and_column(tmp_path: Path) -> None:
    path = old_repo(tmp_path, format_1_registry(note="GEOMETRY"))
    with FeatureStore(tmp_path) as store, pytest.raises(RegistryError) as caught:
        store.registry  # noqa: B018
    message = str(caught.value)
    assert str(path) in message
    assert "views.stats.source_schema.note" in message
    assert "'GEOMETRY'" in message
    assert "featurestore apply" in message
    with FeatureStore(tmp_path) as store:  # apply replaces it, keeping the old bytes beside it
        store.apply()
        assert store.registry.view("stats").source_schema == UPGRADED_SCHEMA
    assert list(path.parent.glob("registry.json.corrupt-*"))


def test_a_registry_of_a_newer_format_is_an_error_that_says_so(tmp_path: Path) -> None:
    path = old_repo(tmp_path, {**format_1_registry(), "format": 4})
    with FeatureStore(tmp_path) as store:
        with pytest.raises(RegistryError, match=r"format 4, written by a newer featurestore.*Upgrade"):
            store.registry  # noqa: B018
        with pytest.raises(RegistryError, match=r"newer featurestore"):
            store.apply()  # never replaced by an older version
    assert json.loads(path.read_text())["format"] == 4

"""The engine contract on Spark: register / to_arrow (exact times), batches in ORDER BY order,
to_parquet (one whole file), schema_of as Arrow types, caller SQL refused, Spark errors as
``SourceError``."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.engines.queries import QueryRefused
from featurestore.engines.spark import SparkEngine
from featurestore.errors import SourceError

pytestmark = pytest.mark.spark

UTC = dt.UTC
VALUES = pa.table(
    {
        "i": pa.array([1, None, -(2**62)], pa.int64()),
        "i32": pa.array([1, 2, None], pa.int32()),
        "aware": pa.array(
            [
                dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
                None,
                dt.datetime(1900, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        "naive": pa.array(
            [dt.datetime(2024, 1, 1, 0, 0, 0, 1), dt.datetime(1, 1, 1), None], pa.timestamp("us")
        ),
        "day": pa.array([dt.date(2024, 2, 29), None, dt.date(1969, 12, 31)], pa.date32()),
        "s": pa.array(["x", None, "é"]),
        "raw": pa.array([b"\x00\xff", None, b""]),
        "flag": pa.array([True, None, False]),
        "f32": pa.array([1.5, None, -0.0], pa.float32()),
        "f64": pa.array([0.25, None, 1e300]),
        "amount": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.00")], pa.decimal128(10, 2)),
    }
)


@pytest.fixture
def values(spark: SparkEngine) -> str:
    spark.register("contract_values", VALUES)
    return "contract_values"


def test_registered_tables_come_back_exactly_with_their_arrow_types(spark: SparkEngine, values: str) -> None:
    out = spark.to_arrow(f"SELECT * FROM {values}")
    assert out.schema == VALUES.schema
    assert out.to_pylist() == VALUES.to_pylist()


def test_seconds_and_milliseconds_widen_and_sub_microsecond_nanoseconds_are_refused(
    spark: SparkEngine,
) -> None:
    coarse = pa.table(
        {
            "s": pa.array([dt.datetime(2024, 1, 1, 12)], pa.timestamp("s")),
            "ms": pa.array(
                [dt.datetime(2024, 1, 1, 12, 0, 0, 1000, tzinfo=UTC)], pa.timestamp("ms", tz="UTC")
            ),
            "ns": pa.array([1_704_110_400_000_001_000], pa.timestamp("ns")),
        }
    )
    spark.register("coarse", coarse)
    out = spark.to_arrow("SELECT * FROM coarse")
    assert out.schema.types == [pa.timestamp("us"), pa.timestamp("us", tz="UTC"), pa.timestamp("us")]
    assert out.column("ns").to_pylist() == [dt.datetime(2024, 1, 1, 12, 0, 0, 1)]
    fine = pa.table({"ns": pa.array([1_704_110_400_000_000_001], pa.timestamp("ns"))})
    with pytest.raises(SourceError, match="finer than a microsecond"):
        spark.register("fine", fine)


def test_schema_of_gives_arrow_types_without_running(spark: SparkEngine, values: str) -> None:
    schema = spark.schema_of(f"SELECT *, CAST(i AS SMALLINT) AS i16, CAST(i AS TINYINT) AS i8 FROM {values}")
    assert schema == {
        **dict(zip(VALUES.column_names, VALUES.schema.types, strict=True)),
        "i16": pa.int16(),
        "i8": pa.int8(),
    }


NUMBERS = pa.table({"n": pa.array(range(5000), pa.int64()), "label": [f"row {i}" for i in range(5000)]})


def test_batches_keep_the_order_by_order_across_batches(spark: SparkEngine) -> None:
    spark.register("numbers", NUMBERS)
    batches = list(spark.batches("SELECT n, label FROM numbers ORDER BY n % 7, n DESC", 700))
    assert all(0 < b.num_rows <= 700 for b in batches)
    got = pa.Table.from_batches(batches)
    assert got.column("n").to_pylist() == sorted(range(5000), key=lambda n: (n % 7, -n))
    assert got.column("label").to_pylist()[:2] == ["row 4998", "row 4991"]


def test_an_empty_result_keeps_its_schema(spark: SparkEngine, values: str) -> None:
    out = spark.to_arrow(f"SELECT * FROM {values} WHERE i > 10")
    assert out.num_rows == 0
    assert out.schema == VALUES.schema


def test_batches_of_an_empty_result_carry_nothing(spark: SparkEngine, values: str) -> None:
    batches = list(spark.batches(f"SELECT * FROM {values} WHERE i > 10", 10))
    assert sum(b.num_rows for b in batches) == 0


def test_to_parquet_writes_one_file_in_order_and_leaves_nothing_else(
    spark: SparkEngine, tmp_path: Path
) -> None:
    spark.register("numbers", NUMBERS)
    target = tmp_path / "out" / "numbers.parquet"
    target.parent.mkdir()
    target.write_bytes(b"an older file")
    spark.to_parquet("SELECT n, label FROM numbers ORDER BY n DESC", target)
    assert [p.name for p in target.parent.iterdir()] == ["numbers.parquet"]
    table = pq.read_table(target)
    assert table.column("n").to_pylist() == list(range(4999, -1, -1))
    assert table.schema.types == [pa.int64(), pa.string()]


def test_to_parquet_keeps_the_types_of_every_column(spark: SparkEngine, values: str, tmp_path: Path) -> None:
    target = tmp_path / "values.parquet"
    spark.to_parquet(f"SELECT * FROM {values}", target)
    table = pq.read_table(target)
    assert table.schema.remove_metadata() == VALUES.schema
    assert table.to_pylist() == VALUES.to_pylist()


def test_a_failed_query_leaves_the_previous_file_unchanged(
    spark: SparkEngine, values: str, tmp_path: Path
) -> None:
    target = tmp_path / "kept.parquet"
    target.write_bytes(b"previous")
    with pytest.raises(SourceError, match=r"^the engine could not run the query: \[UNRESOLVED_COLUMN"):
        spark.to_parquet(f"SELECT nope FROM {values}", target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.parquet"]


def test_spark_errors_are_source_errors_with_sparks_first_line(spark: SparkEngine) -> None:
    with pytest.raises(SourceError) as caught:
        spark.to_arrow("SELECT * FROM parquet.`/no/such/folder`")
    assert str(caught.value).startswith("the engine could not run the query: [PATH_NOT_FOUND]")
    assert "\n" not in str(caught.value)


def test_caller_sql_is_refused_with_what_to_do_instead(spark: SparkEngine) -> None:
    with pytest.raises(QueryRefused, match="pass the entity rows as a table"):
        spark.query_caller_sql("SELECT 1 AS driver_id")


def test_closing_an_engine_that_did_not_start_the_session_stops_nothing(
    spark_session: object, tmp_path: Path
) -> None:
    from featurestore.config import SparkConfig

    engine = SparkEngine(SparkConfig(engine="spark"), tmp_path)
    engine.register("mine", pa.table({"x": [1]}))
    engine.close()
    assert engine.session is spark_session
    assert engine.session.sql("SELECT 1 AS one").toArrow().to_pylist() == [{"one": 1}]
    assert not engine.session.catalog.tableExists("mine")

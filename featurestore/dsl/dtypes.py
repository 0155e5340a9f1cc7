"""Feature value types: the names users write, and what they mean in Arrow and DuckDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import pyarrow as pa

DType = Literal["bool", "int32", "int64", "float32", "float64", "string", "bytes", "timestamp", "date"]
DTYPES: tuple[str, ...] = get_args(DType)

DUCKDB_TYPES: dict[str, str] = {
    "bool": "BOOLEAN",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "string": "VARCHAR",
    "bytes": "BLOB",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
}

# Which declared types a source column of a given DuckDB type may feed without losing meaning.
_COMPATIBLE: dict[str, frozenset[str]] = {
    "bool": frozenset({"BOOLEAN"}),
    "int32": frozenset({"TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT"}),
    "int64": frozenset(
        {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "HUGEINT"}
    ),
    "float32": frozenset({"FLOAT", "TINYINT", "SMALLINT", "INTEGER"}),
    "float64": frozenset(
        {"FLOAT", "DOUBLE", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
    ),
    "string": frozenset({"VARCHAR"}),
    "bytes": frozenset({"BLOB", "VARCHAR"}),
    "timestamp": frozenset(
        {
            "TIMESTAMP",
            "TIMESTAMP WITH TIME ZONE",
            "TIMESTAMPTZ",
            "TIMESTAMP_NS",
            "TIMESTAMPTZ_NS",
            "TIMESTAMP_MS",
            "TIMESTAMP_S",
            "DATE",
        }
    ),
    "date": frozenset({"DATE"}),
}

# Source column types accepted as event and created timestamps, as DuckDB names them, and their unit.
# Parquet's timestamp[s] and timestamp[ms] are read as TIMESTAMP; TIMESTAMP_S and TIMESTAMP_MS come
# from SQL sources that cast. Zoned columns of every unit below a nanosecond are TIMESTAMP WITH TIME
# ZONE (microseconds); pandas' timestamp[ns, tz=...] is TIMESTAMPTZ_NS.
TIME_TYPES: dict[str, str] = {
    "TIMESTAMP_S": "s",
    "TIMESTAMP_MS": "ms",
    "TIMESTAMP": "us",
    "TIMESTAMP_NS": "ns",
    "TIMESTAMP WITH TIME ZONE": "us",
    "TIMESTAMPTZ": "us",
    "TIMESTAMPTZ_NS": "ns",
    "DATE": "day",
}
TIME_TYPES_ACCEPTED = (
    "a timestamp of any unit (s, ms, us, ns), naive (read as UTC) or with a time zone, or a date "
    "(midnight UTC): TIMESTAMP_S, TIMESTAMP_MS, TIMESTAMP, TIMESTAMP_NS, TIMESTAMP WITH TIME ZONE, "
    "TIMESTAMPTZ_NS or DATE"
)


def is_time_type(duckdb_type: str) -> bool:
    """Can a source column of ``duckdb_type`` be an event or created timestamp?

    >>> is_time_type("TIMESTAMPTZ_NS"), is_time_type("DATE"), is_time_type("VARCHAR")
    (True, True, False)
    """
    return duckdb_type.upper() in TIME_TYPES


def is_nanosecond(duckdb_type: str) -> bool:
    """Does a time column hold nanoseconds (finer than every time a plan carries)?"""
    return TIME_TYPES.get(duckdb_type.upper()) == "ns"


def is_zoned(duckdb_type: str) -> bool:
    """Is a time column zoned (an instant DuckDB keeps in UTC)?

    >>> is_zoned("TIMESTAMP WITH TIME ZONE"), is_zoned("TIMESTAMPTZ_NS"), is_zoned("TIMESTAMP_NS")
    (True, True, False)
    """
    kind = duckdb_type.upper()
    return kind in TIME_TYPES and ("TIME ZONE" in kind or kind.startswith("TIMESTAMPTZ"))


def is_compatible(dtype: str, duckdb_type: str) -> bool:
    """Can a source column of ``duckdb_type`` be read as a feature of ``dtype``?

    >>> is_compatible("float64", "INTEGER"), is_compatible("int64", "VARCHAR")
    (True, False)
    """
    base = duckdb_type.upper()
    if base.startswith("DECIMAL"):
        return dtype in ("float32", "float64")
    return base in _COMPATIBLE.get(dtype, frozenset())


def arrow_type(dtype: str) -> pa.DataType:
    """The Arrow type of a feature of ``dtype`` in every result the store returns."""
    import pyarrow as pa

    return {
        "bool": pa.bool_(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float32": pa.float32(),
        "float64": pa.float64(),
        "string": pa.string(),
        "bytes": pa.binary(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
    }[dtype]

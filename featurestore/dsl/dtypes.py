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
        {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE"}
    ),
    "date": frozenset({"DATE"}),
}


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

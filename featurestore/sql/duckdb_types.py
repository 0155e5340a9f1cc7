"""What DuckDB calls the store's types: feature dtypes as cast targets, Arrow source types as column types.

The rest of the store speaks Arrow (``dsl/dtypes.py``); only the DuckDB renderer needs these names.

    >>> DUCKDB_TYPES["float64"], duckdb_type("timestamp[ns, tz=UTC]"), duckdb_type("decimal128(10, 2)")
    ('DOUBLE', 'TIMESTAMPTZ_NS', 'DECIMAL(10, 2)')
"""

from __future__ import annotations

from featurestore.dsl.dtypes import decimal_scale, is_zoned, time_unit, type_name

# The DuckDB type a feature of each declared dtype is cast to in every result.
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

_PLAIN: dict[str, str] = {
    "bool": "BOOLEAN",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "binary": "BLOB",
}

# Time columns by (unit, zoned). DuckDB keeps zoned times below a nanosecond in microseconds.
_TIMES: dict[tuple[str, bool], str] = {
    ("s", False): "TIMESTAMP_S",
    ("ms", False): "TIMESTAMP_MS",
    ("us", False): "TIMESTAMP",
    ("ns", False): "TIMESTAMP_NS",
    ("s", True): "TIMESTAMPTZ",
    ("ms", True): "TIMESTAMPTZ",
    ("us", True): "TIMESTAMPTZ",
    ("ns", True): "TIMESTAMPTZ_NS",
    ("day", False): "DATE",
}


def duckdb_type(arrow_name: str) -> str:
    """The DuckDB type of a column of an Arrow type (scalars; what the renderer casts or compares to).

    >>> duckdb_type("timestamp[s]"), duckdb_type("timestamp[ms, tz=UTC]"), duckdb_type("date32[day]")
    ('TIMESTAMP_S', 'TIMESTAMPTZ', 'DATE')
    """
    name = type_name(arrow_name)
    unit = time_unit(name)
    if unit is not None:
        return _TIMES[(unit, is_zoned(name))]
    scale = decimal_scale(name)
    if scale is not None:
        return "DECIMAL" + name[name.index("(") :]
    try:
        return _PLAIN[name]
    except KeyError:
        raise ValueError(f"the DuckDB renderer has no type for the Arrow type {name!r}") from None

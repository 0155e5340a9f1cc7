"""Older registry files, read by this version: each format change and how a file written before it is
brought up to date (on read; the next ``apply`` writes the current format).

* Format 1 stored source column types as DuckDB names (``BIGINT``, ``TIMESTAMP WITH TIME ZONE``);
  format 2 stores Arrow type names (``int64``, ``timestamp[us, tz=UTC]``), mapped by ``LEGACY_TYPES``.
* Format 3 adds ``on_demand_code``: where each on-demand view's function comes from (``registry/code.py``).
  A file of an older format has none: its functions are taken from the repo's ``definitions/``, as before.

    >>> upgrade({"format": 1, "views": {"v": {"source_schema": {"ts": "TIMESTAMP_NS", "n": "DECIMAL(9,2)"}}}})
    {'format': 3, 'views': {'v': {'source_schema': {'ts': 'timestamp[ns]', 'n': 'decimal128(9, 2)'}}}}
    >>> upgrade({"format": 2, "project": "p"})
    {'format': 3, 'project': 'p'}
"""

from __future__ import annotations

import re
from typing import Any

from featurestore.registry.json_shape import Fields, ShapeError, objects

FORMAT = 3

# DuckDB's names of column types (as format 1 stored them) -> the Arrow names DuckDB's Arrow export
# gives the same columns. Decimals and lists are mapped by ``legacy_arrow_name``.
LEGACY_TYPES: dict[str, str] = {
    "BOOLEAN": "bool",
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "HUGEINT": "decimal128(38, 0)",
    "UHUGEINT": "decimal128(38, 0)",
    "FLOAT": "float",
    "DOUBLE": "double",
    "VARCHAR": "string",
    "UUID": "string",
    "JSON": "string",
    "BLOB": "binary",
    "BIT": "binary",
    "DATE": "date32[day]",
    "TIME": "time64[us]",
    "INTERVAL": "month_day_nano_interval",
    "TIMESTAMP_S": "timestamp[s]",
    "TIMESTAMP_MS": "timestamp[ms]",
    "TIMESTAMP": "timestamp[us]",
    "TIMESTAMP_NS": "timestamp[ns]",
    "TIMESTAMP WITH TIME ZONE": "timestamp[us, tz=UTC]",
    "TIMESTAMPTZ": "timestamp[us, tz=UTC]",
    "TIMESTAMPTZ_NS": "timestamp[ns, tz=UTC]",
}

_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_FIXED_LIST = re.compile(r"(.+)\[(\d+)\]")


def legacy_arrow_name(duckdb_name: str) -> str | None:
    """The Arrow name of a type stored by format 1, or None when there is none.

    >>> legacy_arrow_name("TIMESTAMP WITH TIME ZONE"), legacy_arrow_name("INTEGER[]")
    ('timestamp[us, tz=UTC]', 'list<l: int32>')
    >>> legacy_arrow_name("STRUCT(a INTEGER)") is None
    True
    """
    name = duckdb_name.strip().upper()
    if name in LEGACY_TYPES:
        return LEGACY_TYPES[name]
    if decimal := _DECIMAL.fullmatch(name):
        return f"decimal128({decimal.group(1)}, {decimal.group(2)})"
    if name.endswith("[]"):
        inner = legacy_arrow_name(name[:-2])
        return None if inner is None else f"list<l: {inner}>"
    if fixed := _FIXED_LIST.fullmatch(name):
        inner = legacy_arrow_name(fixed.group(1))
        return None if inner is None else f"fixed_size_list<: {inner}>[{fixed.group(2)}]"
    return None


class NewerFormatError(ShapeError):
    """A registry written by a newer featurestore."""


def upgrade(data: Any) -> Any:
    """A registry document in the current format (``data`` itself when it already is one).

    Raises ``ShapeError`` naming the place (``views.stats.source_schema.geo``) of a value it cannot
    upgrade, and ``NewerFormatError`` for a file written by a newer version.
    """
    if not isinstance(data, dict):
        return data  # the model's validation reports the wrong shape
    top = Fields(data, "")
    version = top.integer("format", default=1)
    if version > FORMAT:
        raise NewerFormatError(
            f"it has format {version}, written by a newer featurestore; this one reads formats up to "
            f"{FORMAT}. Upgrade featurestore"
        )
    if version == FORMAT:
        return data
    if version == 1:
        data = _arrow_type_names(data, top)
    # 2 -> 3: nothing to change (no ``on_demand_code``: functions are taken from definitions/).
    return {**data, "format": FORMAT}


def _arrow_type_names(data: dict[str, Any], top: Fields) -> dict[str, Any]:
    """Format 1 -> 2: the DuckDB type names of source columns replaced by their Arrow names."""
    views = objects(top.raw("views", {}), "views")
    upgraded = {}
    for view_name, record in views.items():
        fields = Fields(record, f"views.{view_name}")
        where = fields.child("source_schema")
        schema = objects(fields.raw("source_schema", {}), where)
        names = {}
        for column, old in schema.items():
            new = legacy_arrow_name(old) if isinstance(old, str) else None
            if new is None:
                raise ShapeError(
                    f"{where}.{column}: the type {old!r} stored by an older featurestore has no Arrow "
                    "name here"
                )
            names[column] = new
        upgraded[view_name] = {**record, "source_schema": names}
    return {**data, "views": upgraded}

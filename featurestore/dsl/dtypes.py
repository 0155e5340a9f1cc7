"""Feature value types (the names users write) and source column types (Arrow type names).

Types cross every seam as Arrow types. A source column's type is stored in the registry as its
canonical Arrow name, ``str(pa_type)`` after ``canonical_arrow_type`` (``"int64"``, ``"double"``,
``"timestamp[ns, tz=UTC]"``, ``"decimal128(10, 2)"``, ``"string"``, ``"date32[day]"``), and read back by
``arrow_type_from_name``. The checks here (``is_time_type``, ``is_compatible``, ...) take such a name or
a ``pa.DataType`` and answer from the name, so they never import pyarrow. What an engine's SQL calls a
type lives with its renderer (``sql/duckdb_types.py``).

    >>> is_compatible("float64", "int32"), is_time_type("timestamp[ns, tz=UTC]"), is_zoned("timestamp[s]")
    (True, True, False)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import pyarrow as pa

DType = Literal["bool", "int32", "int64", "float32", "float64", "string", "bytes", "timestamp", "date"]
DTYPES: tuple[str, ...] = get_args(DType)

_SIGNED = ("int8", "int16", "int32", "int64")
_UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
_FLOATS = ("halffloat", "float", "double")

# Which source column types (Arrow names) a feature of each declared dtype may read without losing
# meaning. Decimals are handled in ``is_compatible``: any scale feeds a float, scale 0 also an int64.
_COMPATIBLE: dict[str, frozenset[str]] = {
    "bool": frozenset({"bool"}),
    "int32": frozenset({"int8", "int16", "int32", "uint8", "uint16"}),
    "int64": frozenset({*_SIGNED, "uint8", "uint16", "uint32"}),
    "float32": frozenset({"halffloat", "float", "int8", "int16", "int32", "uint8", "uint16"}),
    "float64": frozenset({*_FLOATS, *_SIGNED, "uint8", "uint16", "uint32"}),
    "string": frozenset({"string"}),
    "bytes": frozenset({"binary", "string"}),
    "date": frozenset({"date32[day]"}),
}

# Equivalent Arrow types stored under one name (same values, another layout).
_SAME_AS = {
    "large_string": "string",
    "string_view": "string",
    "large_binary": "binary",
    "binary_view": "binary",
}

_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]")
_DECIMAL = re.compile(r"decimal(?:32|64|128|256)\((\d+), (-?\d+)\)")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UTC+00:00", "+00:00", "Z"})

TIME_TYPES_ACCEPTED = (
    "a timestamp of any unit (s, ms, us, ns), naive (read as UTC) or with a time zone, or a date "
    "(midnight UTC): timestamp[s], timestamp[ms], timestamp[us], timestamp[ns], the same with a zone "
    "(timestamp[us, tz=UTC], ...) or date32[day]"
)


def type_name(kind: str | pa.DataType) -> str:
    """The canonical Arrow name of a type, or the name itself when given one.

    >>> type_name("timestamp[ns]")
    'timestamp[ns]'
    >>> type_name("TIMESTAMP_NS")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'TIMESTAMP_NS' is an engine's type name; source column types are Arrow type names ...
    """
    if not isinstance(kind, str):
        return str(canonical_arrow_type(kind))
    if kind[:1].isupper():  # every Arrow name starts in lower case; SQL type names in upper case
        raise ValueError(
            f"{kind!r} is an engine's type name; source column types are Arrow type names such as "
            "'int64' or 'timestamp[ns, tz=UTC]' (see featurestore/dsl/dtypes.py)"
        )
    return _SAME_AS.get(kind, kind)


def canonical_arrow_type(kind: pa.DataType) -> pa.DataType:
    """One Arrow type per meaning: large and view strings are ``string`` (binaries ``binary``), and a UTC
    zone is spelled ``UTC`` (DuckDB says ``Etc/UTC``)."""
    import pyarrow as pa

    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    if pa.types.is_timestamp(kind) and kind.tz in _UTC_NAMES:
        return pa.timestamp(kind.unit, tz="UTC")
    return kind


def arrow_type_from_name(name: str) -> pa.DataType:
    """The Arrow type a canonical name stands for: the inverse of ``str(pa_type)``.

    >>> arrow_type_from_name("timestamp[ns, tz=UTC]"), arrow_type_from_name("decimal128(10, 2)")
    (TimestampType(timestamp[ns, tz=UTC]), Decimal128Type(decimal128(10, 2)))
    >>> arrow_type_from_name("list<item: int64>")
    ListType(list<item: int64>)
    """
    import pyarrow as pa

    text = name.strip()
    if stamp := _TIMESTAMP.fullmatch(text):
        return pa.timestamp(stamp.group(1), tz=stamp.group(2))
    if decimal := _DECIMAL.fullmatch(text):
        width = text[len("decimal") : text.index("(")]
        build = {"32": pa.decimal32, "64": pa.decimal64, "128": pa.decimal128, "256": pa.decimal256}[width]
        return build(int(decimal.group(1)), int(decimal.group(2)))
    for prefix, build_list in (("list<", pa.list_), ("large_list<", pa.large_list)):
        if text.startswith(prefix) and text.endswith(">"):
            field = _field(text[len(prefix) : -1], name)
            return build_list(field)
    if fixed := re.fullmatch(r"fixed_size_list<(.*)>\[(\d+)\]", text):
        return pa.list_(_field(fixed.group(1), name), int(fixed.group(2)))
    if text.startswith("struct<") and text.endswith(">"):
        return pa.struct([_field(part, name) for part in _split(text[len("struct<") : -1])])
    if text.startswith("map<") and text.endswith(">"):
        parts = _split(text[len("map<") : -1])
        if len(parts) == 2:
            return pa.map_(arrow_type_from_name(parts[0]), arrow_type_from_name(parts[1]))
    try:
        return pa.type_for_alias(text)
    except ValueError:
        raise ValueError(
            f"{name!r} is not an Arrow type name (one written by str() of a pyarrow type, such as "
            "'int64', 'timestamp[us, tz=UTC]' or 'decimal128(10, 2)')"
        ) from None


def _field(text: str, whole: str) -> pa.Field:
    import pyarrow as pa

    label, sep, kind = text.partition(": ")
    if not sep:
        raise ValueError(f"{whole!r} is not an Arrow type name: {text!r} is not 'name: type'")
    return pa.field(label, arrow_type_from_name(kind))


def _split(text: str) -> list[str]:
    """Split ``text`` at the commas outside any ``<>``, ``[]`` or ``()``."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "<[(":
            depth += 1
        elif char in ">])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def time_unit(kind: str | pa.DataType) -> str | None:
    """``s``, ``ms``, ``us`` or ``ns`` for a timestamp, ``day`` for a date, None for other types.

    >>> time_unit("timestamp[ms, tz=America/New_York]"), time_unit("date32[day]"), time_unit("int64")
    ('ms', 'day', None)
    """
    name = type_name(kind)
    if name == "date32[day]":
        return "day"
    stamp = _TIMESTAMP.fullmatch(name)
    return stamp.group(1) if stamp else None


def is_time_type(kind: str | pa.DataType) -> bool:
    """Can a source column of this type be an event or created timestamp?

    >>> is_time_type("timestamp[ns, tz=UTC]"), is_time_type("date32[day]"), is_time_type("string")
    (True, True, False)
    """
    return time_unit(kind) is not None


def is_nanosecond(kind: str | pa.DataType) -> bool:
    """Does a time column hold nanoseconds (finer than every time a plan carries)?

    >>> is_nanosecond("timestamp[ns]"), is_nanosecond("timestamp[us, tz=UTC]")
    (True, False)
    """
    return time_unit(kind) == "ns"


def is_zoned(kind: str | pa.DataType) -> bool:
    """Is a time column zoned (an instant, whatever its zone)?

    >>> is_zoned("timestamp[us, tz=UTC]"), is_zoned("timestamp[ns, tz=+01:00]"), is_zoned("timestamp[ns]")
    (True, True, False)
    """
    stamp = _TIMESTAMP.fullmatch(type_name(kind))
    return stamp is not None and stamp.group(2) is not None


def is_date(kind: str | pa.DataType) -> bool:
    """Is a time column a date (midnight UTC)?

    >>> is_date("date32[day]"), is_date("timestamp[s]")
    (True, False)
    """
    return time_unit(kind) == "day"


def decimal_scale(kind: str | pa.DataType) -> int | None:
    """The scale of a decimal type; None for other types.

    >>> decimal_scale("decimal128(38, 0)"), decimal_scale("decimal128(10, 2)"), decimal_scale("double")
    (0, 2, None)
    """
    decimal = _DECIMAL.fullmatch(type_name(kind))
    return int(decimal.group(2)) if decimal else None


def is_compatible(dtype: str, kind: str | pa.DataType) -> bool:
    """Can a source column of this Arrow type be read as a feature of ``dtype``?

    >>> is_compatible("float64", "int32"), is_compatible("int64", "string")
    (True, False)
    >>> is_compatible("float32", "decimal128(10, 2)"), is_compatible("int64", "decimal128(38, 0)")
    (True, True)
    """
    name = type_name(kind)
    scale = decimal_scale(name)
    if scale is not None:
        return dtype in ("float32", "float64") or (dtype == "int64" and scale == 0)
    if dtype == "timestamp":
        return is_time_type(name)
    return name in _COMPATIBLE.get(dtype, frozenset())


def is_integer(kind: str | pa.DataType) -> bool:
    """Does a column of this type hold whole numbers (integers, or decimals of scale 0)?

    >>> is_integer("uint32"), is_integer("decimal128(38, 0)"), is_integer("double")
    (True, True, False)
    """
    name = type_name(kind)
    return name in _SIGNED or name in _UNSIGNED or decimal_scale(name) == 0


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

"""What a column is profiled as, from its Arrow type name, and its non-null values in that form.

A column is one of five kinds: ``number`` (integers, floats, decimals: every statistic), ``bool``
and ``string`` (counts, distinct count, top values), ``time`` (timestamps and dates: min and max as
epoch microseconds, distinct count) and ``bytes`` (counts, distinct count). NaN is a missing number:
it counts as a null.

    >>> kind_of("double"), kind_of("decimal128(10, 2)"), kind_of("timestamp[ns, tz=UTC]")
    ('number', 'number', 'time')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from featurestore.dsl.dtypes import decimal_scale, time_unit, type_name

if TYPE_CHECKING:
    import pyarrow as pa

Kind = Literal["number", "bool", "string", "time", "bytes"]

_NUMBERS = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "halffloat", "float", "double"}
)
# Feature dtypes (what a Feature declares) accepted beside Arrow names.
_FEATURE_DTYPES = {
    "float32": "float",
    "float64": "double",
    "bytes": "binary",
    "timestamp": "timestamp[us]",
    "date": "date32[day]",
}
_MICROS_PER = {"s": 1_000_000, "ms": 1_000, "us": 1, "day": 86_400_000_000}

SUPPORTED = (
    "integers, floats and decimals (number); bool; string; binary (bytes); timestamps of any unit "
    "and date32[day] (time)"
)


def kind_of(dtype: str) -> Kind | None:
    """The kind a column of this Arrow type (or feature dtype) is profiled as; None if not profiled.

    >>> kind_of("float64"), kind_of("bool"), kind_of("date32[day]"), kind_of("list<item: int64>")
    ('number', 'bool', 'time', None)
    """
    name = type_name(_FEATURE_DTYPES.get(dtype, dtype))
    if name in _NUMBERS or decimal_scale(name) is not None:
        return "number"
    if name == "bool":
        return "bool"
    if name == "string":
        return "string"
    if name == "binary":
        return "bytes"
    if time_unit(name) is not None:
        return "time"
    return None


def non_null(values: pa.Array | pa.ChunkedArray, kind: Kind) -> pa.Array:
    """The values that are not null (nor NaN, for numbers), as one array; integers as they are (their
    min and max stay exact), other numbers (floats, decimals) as float64.

    >>> import pyarrow as pa
    >>> non_null(pa.array([1, None, 3]), "number").to_pylist()
    [1, 3]
    >>> non_null(pa.array([1.5, None, float("nan")]), "number").to_pylist()
    [1.5]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    array = array.drop_null()
    if kind == "number" and not pa.types.is_integer(array.type):
        array = array.cast(pa.float64())
        array = array.filter(pc.invert(pc.is_nan(array)))
    return array


def time_numbers(values: pa.Array) -> pa.Array:
    """Times as the integers they are stored as (days for dates, else the timestamp's unit).

    >>> import datetime, pyarrow as pa
    >>> time_numbers(pa.array([datetime.date(1970, 1, 3)])).to_pylist()
    [2]
    """
    import pyarrow as pa

    return values.cast(pa.int32() if time_unit(values.type) == "day" else pa.int64())


def epoch_micros(value: pa.Scalar) -> int:
    """A timestamp or date scalar as microseconds since the epoch (nanoseconds rounded down).

    >>> import datetime, pyarrow as pa
    >>> epoch_micros(pa.scalar(datetime.date(1970, 1, 2)))
    86400000000
    """
    import pyarrow as pa

    unit = time_unit(value.type)
    raw = value.cast(pa.int32()).as_py() if unit == "day" else value.cast(pa.int64()).as_py()
    if unit == "ns":
        return int(raw) // 1_000
    return int(raw) * _MICROS_PER[str(unit)]

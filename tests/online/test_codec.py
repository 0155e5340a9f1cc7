"""The packed value codec (``featurestore/online/codec.py``), without any store."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.dsl.dtypes import arrow_type
from featurestore.online.codec import EXPIRED, NOT_FOUND, PRESENT, Decoded, ValueCodec, to_arrow, to_python

T0 = 1_700_000_000_000_000

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "bool": st.booleans(),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "float32": st.floats(width=32, allow_nan=False),
    "float64": st.floats(allow_nan=False),
    "string": st.text(),
    "bytes": st.binary(),
    "timestamp": st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    "date": st.dates(min_value=date(1900, 1, 1)),
}
DTYPES = tuple(VALUES)


def encode_decode(dtypes: tuple[str, ...], rows: list[list[Any]], select: list[int] | None = None) -> Any:
    codec = ValueCodec(dtypes)
    columns = [pa.array([r[i] for r in rows], arrow_type(d)) for i, d in enumerate(dtypes)]
    raws = codec.encode([T0 + i for i in range(len(rows))], columns)
    select = list(range(len(dtypes))) if select is None else select
    return raws, codec.decoder(select, ttl_us=None)(raws, T0)


def columns(decoded: Decoded) -> list[list[Any]]:
    """Python values per feature, checking that the Arrow and Python conversions agree."""
    pairs = list(zip(decoded.values, decoded.dtypes, strict=True))
    python = [to_python(v, d) for v, d in pairs]
    assert python == [to_arrow(v, d).to_pylist() for v, d in pairs]
    return python


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_dtype_round_trips_with_nulls(data: st.DataObject) -> None:
    dtypes = tuple(data.draw(st.lists(st.sampled_from(DTYPES), min_size=1, max_size=12)))
    n = data.draw(st.integers(1, 5))
    rows = [[data.draw(st.none() | VALUES[d]) for d in dtypes] for _ in range(n)]
    _, decoded = encode_decode(dtypes, rows)
    assert columns(decoded) == [[r[i] for r in rows] for i in range(len(dtypes))]
    assert decoded.status == [PRESENT] * n
    assert list(decoded.event_ts) == [T0 + i for i in range(n)]


@pytest.mark.parametrize("n_features", [8, 9, 64, 65, 130])
def test_null_bitmap_of_many_features(n_features: int) -> None:
    dtypes = tuple("int64" if i % 2 else "string" for i in range(n_features))
    rows = [[None if (i + r) % 3 == 0 else i for i in range(n_features)] for r in range(3)]
    rows = [
        [v if v is None or d == "int64" else str(v) for v, d in zip(row, dtypes, strict=True)] for row in rows
    ]
    _, decoded = encode_decode(dtypes, rows)
    assert columns(decoded) == [[r[i] for r in rows] for i in range(n_features)]


def test_event_time_is_the_first_eight_bytes() -> None:
    """The newer-wins Lua script reads it with struct.unpack('<i8', value)."""
    raws, _ = encode_decode(("string",), [["x"]])
    assert struct.unpack_from("<q", raws[0])[0] == T0


def test_fixed_width_values_have_one_size() -> None:
    raws, _ = encode_decode(("float64", "int32", "bool"), [[1.0, 2, True], [None, None, None]])
    assert len(raws[0]) == len(raws[1]) == 8 + 1 + 8 + 4 + 1


def test_selected_features_in_requested_order() -> None:
    _, decoded = encode_decode(
        ("float64", "string", "int64"), [[0.5, "a", 3], [None, "b", None]], select=[2, 1]
    )
    assert columns(decoded) == [[3, None], ["a", "b"]]


def test_missing_and_expired_rows() -> None:
    codec = ValueCodec(("int64", "string"))
    raws = codec.encode([T0, T0 - 10], [pa.array([1, 2]), pa.array(["a", "b"])])
    decoded = codec.decoder([0, 1], ttl_us=5)([None, raws[0], raws[1], None], T0 + 5)
    assert decoded.status == [NOT_FOUND, PRESENT, EXPIRED, NOT_FOUND]
    assert columns(decoded) == [[None, 1, None, None], [None, "a", None, None]]
    assert list(decoded.event_ts) == [None, T0, T0 - 10, None]
    nothing = codec.decoder([1], ttl_us=None)([None, None], T0)
    assert nothing.status == [NOT_FOUND, NOT_FOUND]
    assert to_arrow(nothing.values[0], nothing.dtypes[0]).type == pa.string()


def test_unknown_dtype() -> None:
    with pytest.raises(ValueError, match="unknown feature dtype 'decimal'"):
        ValueCodec(("decimal",))


_US = timedelta(microseconds=1)


def _packed_by_hand(codec: ValueCodec, ts: int, row: list[Any]) -> bytes:
    """The layout of the module docstring, one value with ``struct`` (the reference of the bulk encoder)."""
    nulls = sum(1 << i for i, v in enumerate(row) if v is None)
    words = [nulls >> (64 * w) & (2**64 - 1) for w in range(codec.bitmap_words)]
    fixed, lengths, data = [], [], b""
    for i, (dtype, v) in enumerate(zip(codec.dtypes, row, strict=True)):
        if i in codec.var:
            raw = b"" if v is None else v.encode() if dtype == "string" else v
            lengths.append(len(raw))
            data += raw
        elif dtype == "timestamp":
            fixed.append(0 if v is None else (v - datetime(1970, 1, 1, tzinfo=UTC)) // _US)
        elif dtype == "date":
            fixed.append(0 if v is None else (v - date(1970, 1, 1)).days)
        else:
            fixed.append(v if v is not None else (False if dtype == "bool" else 0))
    return codec.header.pack(ts, *words, *fixed, *lengths) + data


@pytest.mark.parametrize("n_copies", [1, 8])  # 9 and 72 features: one null word, then two
def test_bulk_encoder_matches_the_layout_byte_for_byte(n_copies: int) -> None:
    dtypes = DTYPES * n_copies
    rows: list[list[Any]] = [
        [True, -(2**31), 2**63 - 1, 1.5, -0.1, "héllo {x}|%", b"\x00\xff",
         datetime(2024, 2, 29, 12, 0, 0, 7, tzinfo=UTC), date(1969, 12, 31)] * n_copies,
        [None] * len(dtypes),
        [False, 0, None, None, float("inf"), "", b"", None, date(2200, 1, 1)] * n_copies,
    ]  # fmt: skip
    codec = ValueCodec(dtypes)
    columns = [pa.array([r[i] for r in rows], arrow_type(d)) for i, d in enumerate(dtypes)]
    chunked = [pa.chunked_array([c.slice(0, 1), c.slice(1)]) for c in columns]  # a Table's columns
    expected = [_packed_by_hand(codec, T0 - i, row) for i, row in enumerate(rows)]
    assert codec.encode([T0, T0 - 1, T0 - 2], columns) == expected
    assert codec.encode_arrow(pa.array([T0, T0 - 1, T0 - 2]), chunked).to_pylist() == expected

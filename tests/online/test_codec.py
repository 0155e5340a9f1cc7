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
    n = data.draw(st.integers(1, 30))  # one value decodes on its own path, several in bulk
    rows = [[data.draw(st.none() | VALUES[d]) for d in dtypes] for _ in range(n)]
    raws, decoded = encode_decode(dtypes, rows)
    assert columns(decoded) == [[r[i] for r in rows] for i in range(len(dtypes))]
    assert decoded.status == [PRESENT] * n
    assert list(decoded.event_ts) == [T0 + i for i in range(n)]
    # the same values one by one, and a subset in another order, agree with the bulk decoding
    select = data.draw(st.permutations(range(len(dtypes))))[: data.draw(st.integers(1, len(dtypes)))]
    decoder = ValueCodec(dtypes).decoder(select, ttl_us=None)
    for j, raw in enumerate(raws):
        one = decoder([raw], T0)
        assert columns(one) == [[rows[j][i]] for i in select]
        assert (one.status, list(one.event_ts)) == ([PRESENT], [T0 + j])


@pytest.mark.parametrize("n_features", [8, 9, 64, 65, 130])
def test_null_bitmap_of_many_features(n_features: int) -> None:
    dtypes = tuple("int64" if i % 2 else "string" for i in range(n_features))
    rows = [[None if (i + r) % 3 == 0 else i for i in range(n_features)] for r in range(3)]
    rows = [
        [v if v is None or d == "int64" else str(v) for v, d in zip(row, dtypes, strict=True)] for row in rows
    ]
    raws, decoded = encode_decode(dtypes, rows)
    assert columns(decoded) == [[r[i] for r in rows] for i in range(n_features)]
    decoder = ValueCodec(dtypes).decoder(range(n_features), ttl_us=None)
    assert [columns(decoder([raw], T0)) for raw in raws] == [[[v] for v in row] for row in rows]


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


def test_one_value_present_null_expired_missing() -> None:
    """A read of one entity decodes on its own path: the statuses and values of the bulk path."""
    codec = ValueCodec(("float64", "string", "int64", "string"))
    cols = [pa.array([0.25, None]), pa.array(["zürich", "b"]), pa.array([None, 7]), pa.array(["", None])]
    fresh, old = codec.encode([T0, T0 - 10], cols)
    decoder = codec.decoder([3, 1, 0, 2], ttl_us=5)
    got = decoder([fresh], T0 + 5)  # exactly ttl old: still PRESENT
    assert (got.status, list(got.event_ts)) == ([PRESENT], [T0])
    assert columns(got) == [[""], ["zürich"], [0.25], [None]]
    got = decoder([old], T0 + 5)
    assert (got.status, list(got.event_ts), columns(got)) == ([EXPIRED], [T0 - 10], [[None]] * 4)
    got = decoder([old], T0 - 10)
    assert columns(got) == [[None], ["b"], [None], [7]]
    got = decoder([None], T0)
    assert (got.status, list(got.event_ts), columns(got)) == ([NOT_FOUND], [None], [[None]] * 4)
    assert to_arrow(got.values[1], got.dtypes[1]).type == pa.string()


def test_bulk_nulls_expired_and_missing_together() -> None:
    codec = ValueCodec(("int64", "string", "bool"))
    raws = codec.encode(
        [T0, T0 - 10, T0, T0],
        [pa.array([1, 2, None, 4]), pa.array(["a", "b", "c", None]), pa.array([True, None, False, None])],
    )
    decoded = codec.decoder([2, 0, 1], ttl_us=5)([raws[0], None, raws[1], raws[2], raws[3]], T0)
    assert decoded.status == [PRESENT, NOT_FOUND, EXPIRED, PRESENT, PRESENT]
    assert columns(decoded) == [
        [True, None, None, False, None],
        [1, None, None, None, 4],
        ["a", None, None, "c", None],
    ]
    assert list(decoded.event_ts) == [T0, None, T0 - 10, T0, T0]


def test_a_value_of_another_format_does_not_decode() -> None:
    codec = ValueCodec(("float64", "int64"))
    [raw] = codec.encode([T0], [pa.array([1.0]), pa.array([2])])
    with pytest.raises(ValueError, match="expected 25"):
        codec.decoder([0, 1], ttl_us=None)([raw, raw + b"x"], T0)
    with pytest.raises(ValueError, match="a value of 24 bytes, expected 25"):
        codec.decoder([0, 1], ttl_us=None)([raw[:-1]], T0)
    with pytest.raises(ValueError, match="expected 25"):
        codec.decoder([0, 1], ttl_us=None)([raw] * 30 + [raw + b"x"], T0)
    text = ValueCodec(("string",))
    with pytest.raises(struct.error):
        text.decoder([0], ttl_us=None)([b"short"], T0)


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

"""The canonical entity-key encoding (``featurestore/online/keys.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurestore.errors import EntityRowsError
from featurestore.online import keys

key_values = st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.text()), min_size=1, max_size=4)


def test_ints_and_strings_never_collide() -> None:
    assert keys.encode_key((1,)) == "i1"
    assert keys.encode_key(("1",)) == "s1"
    assert keys.encode_key((-1,)) != keys.encode_key(("-1",))


def test_separator_and_braces_are_escaped() -> None:
    assert keys.encode_key(("a", "b|sc")) != keys.encode_key(("a|sb", "c"))
    assert keys.encode_key(("{x}",)) == "s%7Bx%7D"
    assert keys.encode_key(("%7B",)) == "s%257B"
    assert keys.encode_key(("",)) == "s"


@given(key_values)
def test_encoding_round_trips_and_has_no_braces(values: list[Any]) -> None:
    encoded = keys.encode_key(values)
    assert keys.decode_key(encoded) == tuple(values)
    assert "{" not in encoded  # the whole encoding is the Redis hash tag
    assert "}" not in encoded


@given(key_values, key_values)
def test_encoding_is_injective(a: list[Any], b: list[Any]) -> None:
    if a != b or [type(v) for v in a] != [type(v) for v in b]:
        assert keys.encode_key(a) != keys.encode_key(b)


def test_columns_encode_like_single_keys() -> None:
    cols = [[1, 2], ["a|", "b"]]
    encoded = keys.encode_columns(cols, ["int64", "string"], keys=["k", "s"], view="v")
    assert encoded == [keys.encode_key((1, "a|")), keys.encode_key((2, "b"))]


def test_numpy_ints_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    assert keys.encode_column([np.int64(5), np.int32(6)], "int64", key="k", view="v") == ["i5", "i6"]


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        ("1001", "int64", r"expects int64 values; entity row 0 has '1001' \(str\); pass 1001 \(an int\)"),
        (3.0, "int64", r"3\.0 \(float\); pass 3 \(an int\)"),
        (3.5, "int32", r"3\.5 \(float\)"),
        (None, "int64", r"None \(NoneType\); a null join key matches nothing"),
        (True, "int64", r"True \(bool\)"),
        (7, "string", r"expects string values; entity row 0 has 7 \(int\); pass '7'"),
        (b"x", "string", r"b'x' \(bytes\)"),
        (2**31, "int32", r"out of range"),
        (2**63, "int64", r"out of range"),
    ],
)
def test_bad_values_name_key_type_and_view(value: Any, dtype: str, message: str) -> None:
    with pytest.raises(EntityRowsError, match=message) as info:
        keys.encode_column([value], dtype, key="driver_id", view="driver_stats")
    assert "join key 'driver_id' of feature view 'driver_stats'" in str(info.value)


def test_redis_key_layout() -> None:
    ns = keys.namespace("rides", "driver_stats", "a1b2")
    key = keys.redis_key(ns, keys.encode_key((1001,)))
    assert key == "fs:rides:driver_stats:a1b2:{i1001}"
    assert keys.namespace_pattern(ns) == "fs:rides:driver_stats:a1b2:*"
    assert keys.marker_key(ns) == "fs:rides:driver_stats:a1b2:marker"


@pytest.mark.parametrize(
    ("project", "view", "version"),
    [("a:b", "v", "1"), ("p", "v*", "1"), ("p", "v", "1:2"), ("p", "v", "a b")],
)
def test_namespace_parts_are_checked(project: str, view: str, version: str) -> None:
    with pytest.raises(ValueError, match="must"):
        keys.check_namespace_parts(project, view, version)


def test_write_batches_encode_keys_as_the_keys_module_does() -> None:
    """``batch.py`` encodes key columns with Arrow kernels: the same text as ``encode_columns``."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from featurestore.errors import OnlineStoreError
    from featurestore.online import EVENT_TS, OnlineView
    from featurestore.online.batch import encode_batch

    view = OnlineView(project="p", name="v", version="1", join_keys=("a", "b"),
                      key_dtypes=("int32", "string"), features=(("x", "int64"),), ttl=None)  # fmt: skip
    ints = [-(2**31), 0, 7, 2**31 - 1, 12]
    texts = ["a|b", "%7C", "{x}", "", "é%|{}"]
    ts = pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 5, pa.timestamp("us", tz="UTC"))
    table = pa.table({"a": pa.array(ints, pa.int64()), "b": texts, EVENT_TS: ts, "x": [1] * 5})
    expected = keys.encode_columns([ints, texts], ("int32", "string"), keys=("a", "b"), view="v")
    assert encode_batch(view, table, now_us=0).keys == expected
    assert expected[0] == "i-2147483648|sa%7Cb"
    too_big = table.set_column(0, "a", pa.array([0, 0, 2**31, 0, 0], pa.int64()))
    with pytest.raises(OnlineStoreError, match=r"'a' of feature view 'v' expects int32 values; entity row 2"):
        encode_batch(view, too_big, now_us=0)

"""The packed value: one bytes string per (view version, entity), encoded and decoded in bulk.

Layout (little-endian, no padding), compiled once per list of feature dtypes into a ``struct.Struct``::

    event_ts   int64, microseconds since the epoch (UTC)   <- always the first 8 bytes
    null bits  B / H / I / Q (Q repeated above 64 features); bit i set = feature i is null
    fixed      one field per fixed-width feature, in declared order (a null stores 0):
               bool ?, int32 i, int64 q, float32 f, float64 d, timestamp q (us), date i (days)
    lengths    uint32 per string/bytes feature, in declared order
    var data   the string (UTF-8) / bytes values, concatenated in declared order

The event timestamp comes first so a Lua script can compare it with ``struct.unpack('<i8', v)`` (the
newer-wins rule). Decoding is one ``Struct.unpack_from`` per value (mapped in C, then turned into
columns by one ``zip``), the strings cut and decoded by ``map``; no Python loop per value unless it
holds a null or has expired. The layout is part of the storage format: changing it needs a new key
prefix (``keys.REDIS_PREFIX``) or table.

    >>> codec = ValueCodec(("float64", "string"))
    >>> import pyarrow as pa
    >>> [raw] = codec.encode([1_700_000_000_000_000], [pa.array([0.5]), pa.array(["x"])])
    >>> decoded = codec.decoder((1, 0), ttl_us=None)([raw, None], now_us=1_700_000_000_000_001)
    >>> [to_python(v, d) for v, d in zip(decoded.values, decoded.dtypes)], decoded.status
    ([['x', None], [0.5, None]], [0, 1])
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import repeat
from operator import add, getitem
from typing import Any, NamedTuple, cast

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.dsl.dtypes import DTYPES, arrow_type

PRESENT, NOT_FOUND, EXPIRED = 0, 1, 2

_FIXED = {
    "bool": "?",
    "int32": "i",
    "int64": "q",
    "float32": "f",
    "float64": "d",
    "timestamp": "q",
    "date": "i",
}
_VAR = frozenset({"string", "bytes"})
# Arrow type of the values as they sit in the struct (timestamps and dates as plain ints).
_STORAGE = {"timestamp": pa.int64(), "date": pa.int32(), "string": pa.binary(), "bytes": pa.binary()}
_ZERO: dict[str, Any] = {"bool": False, "string": b"", "bytes": b""}


_NUMPY = {"bool": "?", "int32": "<i4", "int64": "<i8", "float32": "<f4", "float64": "<f8"}
_NUMPY.update({"timestamp": "<i8", "date": "<i4"})


def _combined(col: Sequence[Any] | pa.Array | pa.ChunkedArray, to: pa.DataType | None = None) -> pa.Array:
    """``col`` as one Arrow array (chunks combined), cast to ``to`` when given."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    elif not isinstance(col, pa.Array):
        col = pa.array(col, to)
    if to is not None and col.type != to:
        col = col.cast(to)
    return col


def _numpy(col: pa.Array, dtype: Any) -> Any:
    """The values of a null-free Arrow array as numpy (a copy only where the layout differs)."""
    out = col.to_numpy(zero_copy_only=False)
    return out if dtype is None else out.astype(dtype, copy=False)


def _bitmap_format(n_features: int) -> str:
    for limit, code in ((8, "B"), (16, "H"), (32, "I"), (64, "Q")):
        if n_features <= limit:
            return code
    return "Q" * ((n_features + 63) // 64)


class Decoded(NamedTuple):
    """The decoded values of one view for E entities, as Python values (Arrow is built on demand).

    ``values`` follow the requested feature order and hold storage-level values (timestamps as
    microseconds, dates as days, strings as ``str``, bytes as ``bytes``; ``None`` for null, NOT_FOUND or
    EXPIRED); ``dtypes`` are their feature dtypes. ``event_ts`` is in microseconds (``None`` when
    NOT_FOUND); ``status`` holds ``PRESENT`` / ``NOT_FOUND`` / ``EXPIRED`` per entity. Convert with
    :func:`to_arrow` / :func:`to_python`.
    """

    values: tuple[Sequence[Any], ...]
    dtypes: tuple[str, ...]
    event_ts: Sequence[int | None]
    status: list[int]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")


def to_arrow(values: Sequence[Any], dtype: str) -> pa.Array:
    """Storage-level values of one feature (see :class:`Decoded`) -> an Arrow array of its type."""
    return pa.array(values, arrow_type(dtype))


def to_arrow_all(decoded: Decoded) -> tuple[list[pa.Array], pa.Array]:
    """Every feature column and the event times of ``decoded`` in one Arrow conversion.

    The rows go through one struct array, whose children are the columns: one conversion call instead
    of one per column, which is what costs most for a few entities.
    """
    rows = list(zip(*decoded.values, decoded.event_ts, strict=True))
    children: list[pa.Array] = pa.array(rows, type=_row_type(decoded.dtypes)).flatten()
    return children[:-1], children[-1]


@lru_cache(maxsize=1024)
def _row_type(dtypes: tuple[str, ...]) -> pa.StructType:
    fields = [(f"f{i}", arrow_type(d)) for i, d in enumerate(dtypes)]
    return pa.struct([*fields, ("event_ts", TIMESTAMP_TYPE)])


def to_python(values: Sequence[Any], dtype: str) -> list[Any]:
    """Storage-level values -> the Python values ``to_arrow(values, dtype).to_pylist()`` would give."""
    if dtype == "timestamp":  # positional timedelta(days, seconds, microseconds): the fastest form
        return [None if v is None else _EPOCH + timedelta(0, 0, v) for v in values]
    if dtype == "date":
        return [None if v is None else _EPOCH_DATE + timedelta(v) for v in values]
    return list(values)


class ValueCodec:
    """Encoder and decoder factory for one list of feature dtypes (one view version)."""

    def __init__(self, dtypes: Sequence[str]) -> None:
        for dtype in dtypes:
            if dtype not in DTYPES:
                raise ValueError(f"unknown feature dtype {dtype!r}; known: {', '.join(DTYPES)}")
        self.dtypes = tuple(dtypes)
        self.fixed = tuple(i for i, d in enumerate(dtypes) if d not in _VAR)
        self.var = tuple(i for i, d in enumerate(dtypes) if d in _VAR)
        bitmap = _bitmap_format(len(dtypes))
        self.bitmap_words = len(bitmap)
        self.header = struct.Struct(
            "<q" + bitmap + "".join(_FIXED[dtypes[i]] for i in self.fixed) + "I" * len(self.var)
        )
        # Position of feature i inside an unpacked row (var features are appended after the header).
        first = 1 + self.bitmap_words
        pos = {f: first + j for j, f in enumerate(self.fixed)}
        var_first = first + len(self.fixed) + len(self.var)
        pos.update({f: var_first + j for j, f in enumerate(self.var)})
        self.position = tuple(pos[i] for i in range(len(dtypes)))

    # -- encoding -------------------------------------------------------------------------------------

    def encode(self, event_ts: Sequence[int], columns: Sequence[pa.Array | pa.ChunkedArray]) -> list[bytes]:
        """Pack E rows: ``event_ts`` in microseconds, ``columns`` one Arrow array per feature (in the
        declared order, already of the declared Arrow type)."""
        values: list[bytes] = self.encode_arrow(event_ts, columns).to_pylist()
        return values

    def encode_arrow(
        self,
        event_ts: Sequence[int] | pa.Array | pa.ChunkedArray,
        columns: Sequence[pa.Array | pa.ChunkedArray],
    ) -> pa.BinaryArray:
        """:meth:`encode` as one Arrow binary array, built without a Python loop per row: the headers are
        a numpy record array in the struct's layout, the strings appended by one Arrow kernel.

        >>> codec = ValueCodec(("int32", "string"))
        >>> got = codec.encode_arrow([5], [pa.array([None], pa.int32()), pa.array(["ab"])]).to_pylist()
        >>> got == [codec.header.pack(5, 0b01, 0, 2) + b"ab"]
        True
        """
        import numpy as np

        n = len(event_ts)
        header = np.zeros(n, dtype=self._record_dtype())
        header["ts"] = _numpy(_combined(event_ts, pa.int64()), np.int64)
        if any(col.null_count for col in columns):
            for w in range(self.bitmap_words):
                word = np.zeros(n, dtype=np.uint64)
                for i in range(w * 64, min(len(columns), w * 64 + 64)):
                    if columns[i].null_count:
                        nulls = _numpy(pc.is_null(_combined(columns[i])), np.uint64)
                        word |= nulls << np.uint64(i - w * 64)
                header[f"w{w}"] = word
        for i in self.fixed:
            header[f"x{i}"] = _numpy(self._filled(columns[i], self.dtypes[i]), None)
        var = [self._filled(columns[i], self.dtypes[i]) for i in self.var]
        for i, values in zip(self.var, var, strict=True):
            header[f"x{i}"] = _numpy(pc.binary_length(values), np.uint32)
        packed = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(self.header.size), n, [None, pa.py_buffer(header)]
        ).cast(pa.binary())
        if not var:
            return packed
        joined: pa.BinaryArray = pc.binary_join_element_wise(packed, *var, pa.scalar(b"", pa.binary()))
        return joined

    def _record_dtype(self) -> Any:
        """The numpy record type of a header: the struct's fields at the struct's offsets (no padding)."""
        import numpy as np

        names, formats = ["ts"], ["<i8"]
        bitmap = {"B": "<u1", "H": "<u2", "I": "<u4", "Q": "<u8"}[_bitmap_format(len(self.dtypes))[0]]
        for w in range(self.bitmap_words):
            names.append(f"w{w}")
            formats.append(bitmap)
        for i in self.fixed:
            names.append(f"x{i}")
            formats.append(_NUMPY[self.dtypes[i]])
        for i in self.var:
            names.append(f"x{i}")
            formats.append("<u4")
        offsets = [0]
        for f in formats[:-1]:
            offsets.append(offsets[-1] + np.dtype(f).itemsize)
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": self.header.size}
        )

    @staticmethod
    def _filled(col: pa.Array | pa.ChunkedArray, dtype: str) -> pa.Array:
        """A feature column in its storage type, nulls as zero (what a null stores), in one chunk."""
        storage = _STORAGE.get(dtype)
        out = _combined(col, storage)
        if out.null_count:
            out = out.fill_null(pa.scalar(_ZERO.get(dtype, 0), out.type))
        return out

    # -- decoding -------------------------------------------------------------------------------------

    def decoder(
        self, select: Sequence[int], ttl_us: int | None
    ) -> Callable[[Sequence[bytes | None], int], Decoded]:
        """A bulk decoder of the features at positions ``select`` (declared order indices), for a view
        whose values expire ``ttl_us`` microseconds after their event time (``None``: never)."""
        return _Decoder(self, tuple(select), ttl_us)


class _Decoder:
    """Decodes the values of one view: one ``Struct.unpack_from`` per value, mapped in C and turned
    into columns by one ``zip``; strings cut and decoded by ``map``. (A NumPy record array over the
    joined headers was measured too: faster alone, slower inside a whole read, whose caches are cold
    after the wait on the socket.)"""

    def __init__(self, codec: ValueCodec, select: tuple[int, ...], ttl_us: int | None) -> None:
        self.header = codec.header
        self.size = codec.header.size
        self.select = select
        self.ttl_us = ttl_us
        self.dtypes = tuple(codec.dtypes[i] for i in select)
        self.words = codec.bitmap_words
        self.fixed_only = not codec.var
        self.var_slice = slice(self.size, None)
        # Per selected feature: (header field index or -1, var index or -1, decode as UTF-8).
        spec: list[tuple[int, int, bool]] = []
        for i in select:
            if i in codec.var:
                spec.append((-1, codec.var.index(i), codec.dtypes[i] == "string"))
            else:
                spec.append((1 + self.words + codec.fixed.index(i), -1, False))
        self.spec = tuple(spec)
        self.lengths_at = 1 + self.words + len(codec.fixed)
        self.n_var = len(codec.var)
        self.var_needed = any(k >= 0 for _, k, _ in spec)

    def __call__(self, raws: Sequence[bytes | None], now_us: int) -> Decoded:
        if len(raws) == 1:
            return self._one(raws[0], now_us)
        n = len(raws)
        index: list[int] | None = None
        present: Sequence[bytes]
        if None in raws:
            index = [i for i, r in enumerate(raws) if r is not None]
            present = [r for r in raws if r is not None]
        else:
            present = raws  # type: ignore[assignment]
        if not present:
            nulls = [None] * n
            return Decoded(tuple([None] * n for _ in self.select), self.dtypes, nulls, [NOT_FOUND] * n)
        if self.fixed_only and set(map(len, present)) != {self.size}:
            raise ValueError(f"values of {sorted(set(map(len, present)))} bytes, expected {self.size}")
        cols = list(zip(*map(self.header.unpack_from, present), strict=True))
        values: list[Sequence[Any]] = self._columns(present, cols)
        ts: Sequence[int | None] = cols[0]
        expired: list[int] = []
        if self.ttl_us is not None:
            oldest = now_us - self.ttl_us
            if min(cols[0]) < oldest:
                expired = [j for j, t in enumerate(cols[0]) if t < oldest]
        if self.words == 1:
            null_rows = [(j, w) for j, w in enumerate(cols[1]) if w] if any(cols[1]) else []
        else:
            stacked = zip(*cols[1 : 1 + self.words], strict=True)
            null_rows = [(j, _word(ws)) for j, ws in enumerate(stacked) if any(ws)]
        if null_rows or expired:  # columns stay tuples unless a value must be blanked
            lists = [list(v) for v in values]
            for j, word in null_rows:
                for column, feature in zip(lists, self.select, strict=True):
                    if word >> feature & 1:
                        column[j] = None
            for j in expired:
                for column in lists:
                    column[j] = None
            values = list(lists)
        status = [PRESENT] * n
        if index is not None:  # scatter the present rows into E slots, NOT_FOUND elsewhere
            status = [NOT_FOUND] * n
            for j in index:
                status[j] = PRESENT
            values = [_scatter(v, index, n) for v in values]
            ts = _scatter(ts, index, n)
        for j in expired:
            status[index[j] if index is not None else j] = EXPIRED
        return Decoded(tuple(values), self.dtypes, ts, status)

    def _columns(self, present: Sequence[bytes], cols: list[tuple[Any, ...]]) -> list[Sequence[Any]]:
        """The selected features' columns of values that are all present (``cols``: header columns)."""
        var: list[list[Any]] = []
        if self.var_needed:
            if self.n_var == 1:
                var.append(list(map(_cut, present, repeat(self.var_slice))))
            else:
                starts: Sequence[int] = [self.size] * len(present)
                for k in range(self.n_var):
                    if k == self.n_var - 1:  # the last one runs to the end of the value
                        var.append(list(map(_cut, present, map(slice, starts, repeat(None)))))
                    else:
                        ends = list(map(add, starts, cols[self.lengths_at + k]))
                        var.append(list(map(_cut, present, map(slice, starts, ends))))
                        starts = ends
        values: list[Sequence[Any]] = []
        for field, k, text in self.spec:
            if k < 0:
                values.append(cols[field])
            elif text:
                values.append(list(map(bytes.decode, var[k])))
            else:
                values.append(var[k])
        return values

    def _one(self, raw: bytes | None, now_us: int) -> Decoded:
        """One value: one ``unpack_from`` and a few slices."""
        if raw is None:
            return Decoded(((None,),) * len(self.select), self.dtypes, (None,), [NOT_FOUND])
        if self.fixed_only and len(raw) != self.size:
            raise ValueError(f"a value of {len(raw)} bytes, expected {self.size}")
        row = self.header.unpack_from(raw)
        ts = row[0]
        if self.ttl_us is not None and ts < now_us - self.ttl_us:
            return Decoded(((None,),) * len(self.select), self.dtypes, (ts,), [EXPIRED])
        var: list[bytes] = []
        if self.var_needed:
            start, last = self.size, self.n_var - 1
            for k in range(self.n_var):
                if k == last:
                    var.append(raw[start:])
                else:
                    end = start + row[self.lengths_at + k]
                    var.append(raw[start:end])
                    start = end
        word = row[1] if self.words == 1 else _word(row[1 : 1 + self.words])
        values: list[tuple[Any]] = []
        for (field, k, text), feature in zip(self.spec, self.select, strict=True):
            if word >> feature & 1:
                values.append((None,))
            elif k < 0:
                values.append((row[field],))
            else:
                values.append((var[k].decode() if text else var[k],))
        return Decoded(tuple(values), self.dtypes, (ts,), [PRESENT])


# operator.getitem typed for the slicing of values, so that ``map`` slices in C, without a Python frame.
_cut = cast("Callable[[bytes, slice], bytes]", getitem)


def _word(words: Sequence[int]) -> int:
    """The null bits of a value whose bitmap spans several 64-bit words, as one int."""
    return sum(w << (64 * i) for i, w in enumerate(words))


def _scatter(values: Sequence[Any], index: list[int], n: int) -> list[Any]:
    out: list[Any] = [None] * n
    for j, v in zip(index, values, strict=True):
        out[j] = v
    return out


@lru_cache(maxsize=1024)
def codec_for(dtypes: tuple[str, ...]) -> ValueCodec:
    """The (cached) codec of a list of feature dtypes."""
    return ValueCodec(dtypes)

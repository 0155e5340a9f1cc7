"""One canonical, typed text encoding of entity keys, shared by every online store.

An entity key is the tuple of a view's join-key values, in the view's join-key order. Each value is
encoded with a type tag, and the values are joined with ``|``:

* an int (declared ``int32`` or ``int64``) becomes ``i`` + its decimal digits: ``1001 -> "i1001"``,
  ``-5 -> "i-5"``. An int32 and an int64 key of the same value encode the same way.
* a string becomes ``s`` + the string, with ``%``, ``|``, ``{`` and ``}`` percent-escaped:
  ``"a|b" -> "sa%7Cb"``. The empty string is ``"s"``.

So ``1`` and ``"1"`` never collide (``i1`` vs ``s1``), composite keys cannot be confused with a
single string holding the separator, and the encoding never contains a brace.

    >>> encode_key((1001,))
    'i1001'
    >>> encode_key((7, "ab|c"))
    'i7|sab%7Cc'
    >>> decode_key(encode_key((7, "ab|c")))
    (7, 'ab|c')

Namespaces and storage keys
---------------------------
A *namespace* is ``<project>:<view>:<version>`` (``version`` is the view's data fingerprint, so a changed
definition reads and writes a new namespace). SQLite stores ``(namespace, encoded key)`` rows. Redis
stores one packed value per key

    fs:<project>:<view>:<version>:{<encoded key>}

The braces are a Redis Cluster hash tag: only the encoded entity key is hashed, so every view of one
entity lives in one slot (and a request for one entity is one command on one node). Project and view are
identifiers and versions are ``[A-Za-z0-9_.-]``, so ``fs:<namespace>:*`` is a safe ``SCAN`` pattern for
exactly one namespace. Beside its values, a namespace holds one marker key, ``fs:<namespace>:marker``
(no hash tag), recording how far that namespace was materialized in this store.

    >>> redis_key(namespace("rides", "driver_stats", "a1b2"), "i1001")
    'fs:rides:driver_stats:a1b2:{i1001}'

Validation (:func:`encode_columns`) raises :class:`~featurestore.errors.EntityRowsError` naming the join
key, the expected type, the view and the offending row, so a bad request never reaches a store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from featurestore.errors import EntityRowsError

KEY_DTYPES = ("int64", "int32", "string")
REDIS_PREFIX = "fs"

_INT_RANGE = {"int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1)}
_ESCAPE = str.maketrans({"%": "%25", "|": "%7C", "{": "%7B", "}": "%7D"})
_UNESCAPE = re.compile(r"%(25|7C|7B|7D)")
_UNESCAPED = {"25": "%", "7C": "|", "7B": "{", "7D": "}"}
_VERSION = re.compile(r"^[A-Za-z0-9_.\-]+$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def encode_value(value: int | str) -> str:
    """Encode one already-validated join-key value.

    >>> encode_value(1), encode_value("1"), encode_value("{x}")
    ('i1', 's1', 's%7Bx%7D')
    """
    if type(value) is int:
        return f"i{value}"
    return "s" + str(value).translate(_ESCAPE)


def encode_key(values: Sequence[int | str]) -> str:
    """Encode one entity key (the join-key values of one row, in join-key order)."""
    return "|".join(encode_value(v) for v in values)


def decode_key(encoded: str) -> tuple[int | str, ...]:
    """The inverse of :func:`encode_key` (for tools and tests; stores never need it)."""
    out: list[int | str] = []
    for part in encoded.split("|"):
        if part[:1] == "i":
            out.append(int(part[1:]))
        elif part[:1] == "s":
            out.append(_UNESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], part[1:]))
        else:
            raise ValueError(f"{encoded!r} is not an encoded entity key")
    return tuple(out)


def encode_column(values: Sequence[Any], dtype: str, *, key: str, view: str) -> list[str]:
    """Validate and encode one join-key column (the values of ``key`` for every entity row).

    ``dtype`` is the key's declared type (``int64``, ``int32`` or ``string``). Ints are accepted for int
    keys (also numpy ints, never bools or floats), ``str`` for string keys; ``None`` is rejected.

    >>> encode_column([1, 2], "int64", key="driver_id", view="driver_stats")
    ['i1', 'i2']
    """
    types = set(map(type, values))  # one C-speed pass decides the fast path
    if dtype == "string":
        if types <= {str}:
            return ["s" + v.translate(_ESCAPE) for v in values]
        for row, v in enumerate(values):
            if not isinstance(v, str):
                raise _bad_key(key, dtype, view, row, v)
        return ["s" + str(v).translate(_ESCAPE) for v in values]
    if dtype not in _INT_RANGE:
        raise EntityRowsError(
            f"join key '{key}' of feature view '{view}' has type {dtype!r}; online keys must be one of "
            f"{', '.join(KEY_DTYPES)}"
        )
    ints: Sequence[int] = (
        values if types <= {int} else [_as_int(v, key, dtype, view, row) for row, v in enumerate(values)]
    )
    if ints:
        low, high = _INT_RANGE[dtype]
        if min(ints) < low or max(ints) > high:
            row = next(i for i, v in enumerate(ints) if not low <= v <= high)
            raise EntityRowsError(
                f"join key '{key}' of feature view '{view}' expects {dtype} values; entity row {row} has "
                f"{ints[row]}, which is out of range [{low}, {high}]"
            )
    return [f"i{v}" for v in ints]


def encode_columns(
    columns: Sequence[Sequence[Any]], dtypes: Sequence[str], *, keys: Sequence[str], view: str
) -> list[str]:
    """Validate and encode entity keys given as one column per join key (all of the same length)."""
    encoded = [
        encode_column(col, dtype, key=key, view=view)
        for col, dtype, key in zip(columns, dtypes, keys, strict=True)
    ]
    if len(encoded) == 1:
        return encoded[0]
    return ["|".join(parts) for parts in zip(*encoded, strict=True)]


def namespace(project: str, view: str, version: str) -> str:
    """The namespace of one version of one feature view: ``<project>:<view>:<version>``."""
    return f"{project}:{view}:{version}"


def check_namespace_parts(project: str, view: str, version: str | None) -> None:
    """Raise ``ValueError`` unless the parts are safe in keys and ``SCAN`` patterns."""
    if not _IDENT.match(project):
        raise ValueError(f"project {project!r} must be an identifier (letters, digits, '_')")
    if not _IDENT.match(view):
        raise ValueError(f"view name {view!r} must be an identifier (letters, digits, '_')")
    if version is not None and not _VERSION.match(version):
        raise ValueError(f"version {version!r} must use only letters, digits, '_', '.' and '-'")


def redis_key(ns: str, encoded: str) -> str:
    """The Redis key of one entity in one namespace (see the module docstring)."""
    return f"{REDIS_PREFIX}:{ns}:{{{encoded}}}"


def namespace_pattern(ns: str) -> str:
    """The ``SCAN MATCH`` pattern of every key of exactly one namespace (its values and its marker).

    >>> namespace_pattern("rides:driver_stats:a1b2-x9")
    'fs:rides:driver_stats:a1b2-x9:*'
    """
    return f"{REDIS_PREFIX}:{ns}:*"


def marker_key(ns: str) -> str:
    """The Redis key of a namespace's marker (what the store holds of the namespace; no hash tag).

    >>> marker_key("rides:driver_stats:a1b2-x9")
    'fs:rides:driver_stats:a1b2-x9:marker'
    """
    return f"{REDIS_PREFIX}:{ns}:marker"


def _as_int(value: Any, key: str, dtype: str, view: str, row: int) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise _bad_key(key, dtype, view, row, value)
    return int(value.__index__())


def _bad_key(key: str, dtype: str, view: str, row: int, value: Any) -> EntityRowsError:
    hint = ""
    if value is None:
        hint = "; a null join key matches nothing, drop the row or fill the key"
    elif dtype != "string" and isinstance(value, str) and value.lstrip("-").isdigit():
        hint = f"; pass {int(value)} (an int), not the string {value!r}"
    elif dtype == "string" and isinstance(value, int) and not isinstance(value, bool):
        hint = f"; pass {str(value)!r} (a string), not the int {value}"
    elif isinstance(value, float) and value.is_integer():
        hint = f"; pass {int(value)} (an int), not the float {value!r}"
    return EntityRowsError(
        f"join key '{key}' of feature view '{view}' expects {dtype} values; entity row {row} has "
        f"{value!r} ({type(value).__name__}){hint}"
    )

"""Read plans: compiled once per feature list, then used for every read of that list.

A plan holds, per requested (view, features): the namespace and Redis key prefix, the bulk decoder of
exactly the requested features, and which group of join keys addresses it. Views sharing the same join
keys share one key encoding per read. Stores only fetch bytes; the plan turns entity keys into storage
keys (:meth:`ReadPlan.encode_keys`) and fetched bytes into Arrow (:meth:`ReadPlan.results`).

    >>> from featurestore.online.base import OnlineView
    >>> v = OnlineView(project="p", name="drivers", version="1", join_keys=("driver_id",),
    ...                key_dtypes=("int64",), features=(("rate", "float64"), ("trips", "int64")), ttl=None)
    >>> plan = compile_read_plan([(v, ["trips"])])
    >>> plan.encode_keys({"driver_id": [1001, 1002]})
    (2, [['i1001', 'i1002']])
    >>> plan.views[0].redis_prefix
    'fs:p:drivers:1:{'
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from featurestore.errors import (
    DefinitionError,
    EntityRowsError,
    OnlineStoreError,
    UnknownFeatureError,
    did_you_mean,
)
from featurestore.online import keys
from featurestore.online.base import OnlineView, ViewResult
from featurestore.online.codec import Decoded, codec_for


@dataclass(frozen=True)
class ViewRead:
    """One (view, feature subset) of a plan."""

    view: OnlineView
    features: tuple[str, ...]
    key_group: int
    """Index into :attr:`ReadPlan.key_groups` (the join keys addressing this view)."""
    redis_prefix: str
    """``fs:<project>:<view>:<version>:{``; a Redis key is prefix + encoded key + ``}``."""
    decode: Callable[[Sequence[bytes | None], int], Decoded]


@dataclass(frozen=True)
class ReadPlan:
    """A compiled read request. Immutable and store-independent: cache it per feature list."""

    views: tuple[ViewRead, ...]
    key_groups: tuple[tuple[str, ...], ...]
    key_dtypes: Mapping[str, str]
    key_owner: Mapping[str, str]
    """The first view needing each join key (named in error messages)."""
    single_key: str | None = None
    """The join key when the plan has exactly one (every view then has the same one)."""

    @property
    def join_keys(self) -> tuple[str, ...]:
        return tuple(self.key_dtypes)

    def encode_keys(self, entity_keys: Mapping[str, Sequence[Any]]) -> tuple[int, list[list[str]]]:
        """Validate the entity keys and encode them: ``(E, one list of E encoded keys per key group)``."""
        if self.single_key is not None and self.single_key in entity_keys:
            # One join key in every view (the common case): one column, one key group.
            only = self.single_key
            values = entity_keys[only]
            column = values if type(values) is list else _as_list(values)
            single = keys.encode_column(column, self.key_dtypes[only], key=only, view=self.key_owner[only])
            return len(single), [single]
        missing = [k for k in self.key_dtypes if k not in entity_keys]
        if missing:
            key = missing[0]
            raise EntityRowsError(
                f"entity rows lack join key '{key}' needed by feature view '{self.key_owner[key]}' "
                f"(expects {self.key_dtypes[key]} values); got keys: "
                f"{', '.join(map(str, entity_keys)) or 'none'}"
            )
        columns = {k: _as_list(entity_keys[k]) for k in self.key_dtypes}
        lengths = {len(c) for c in columns.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{k}: {len(c)}" for k, c in columns.items())
            raise EntityRowsError(f"entity key columns differ in length ({shown}); give one value per row")
        n = lengths.pop() if lengths else 0
        encoded = {
            k: keys.encode_column(col, self.key_dtypes[k], key=k, view=self.key_owner[k])
            for k, col in columns.items()
        }
        groups: list[list[str]] = []
        for group in self.key_groups:
            if len(group) == 1:
                groups.append(encoded[group[0]])
            else:
                groups.append(["|".join(parts) for parts in zip(*(encoded[k] for k in group), strict=True)])
        return n, groups

    def redis_keys(self, entity_keys: Mapping[str, Sequence[Any]]) -> tuple[int, list[str]]:
        """``(E, the Redis key of every (view, entity))``: the E keys of ``views[0]``, then of ``views[1]``...

        >>> from featurestore.online.base import OnlineView
        >>> v = OnlineView(project="p", name="d", version="1", join_keys=("id",), key_dtypes=("int64",),
        ...                features=(("x", "int64"),), ttl=None)
        >>> compile_read_plan([(v, None)]).redis_keys({"id": [7, 8]})
        (2, ['fs:p:d:1:{i7}', 'fs:p:d:1:{i8}'])
        """
        n, groups = self.encode_keys(entity_keys)
        out: list[str] = []
        for read in self.views:
            prefix = read.redis_prefix
            out += [f"{prefix}{k}}}" for k in groups[read.key_group]]
        return n, out

    def results(
        self, raws: Sequence[Sequence[bytes | None]], now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        """Decode the fetched values (``raws[i]``: E values of ``views[i]``, ``None`` = not found)."""
        now_us = time.time_ns() // 1000 if now is None else _micros(now)
        out = []
        for read, values in zip(self.views, raws, strict=True):
            try:
                decoded = read.decode(values, now_us)
            except (struct.error, TypeError, ValueError) as exc:
                raise OnlineStoreError(
                    f"a stored value of view '{read.view.name}' (namespace {read.view.namespace}) does not "
                    f"decode ({exc}); it was written in another format: delete the namespace and "
                    "materialize again"
                ) from None
            out.append(ViewResult(read.view, read.features, decoded))
        return tuple(out)


def compile_read_plan(requests: Sequence[tuple[OnlineView, Sequence[str] | None]]) -> ReadPlan:
    """Compile ``[(view, feature names or None for all), ...]`` into a :class:`ReadPlan`.

    Raises :class:`~featurestore.errors.UnknownFeatureError` for a feature the view lacks and
    :class:`~featurestore.errors.DefinitionError` when two views declare one join key with different types.
    """
    key_dtypes: dict[str, str] = {}
    key_owner: dict[str, str] = {}
    groups: list[tuple[str, ...]] = []
    views: list[ViewRead] = []
    for view, wanted in requests:
        names = view.feature_names
        features = names if wanted is None else tuple(wanted)
        for f in features:
            if f not in names:
                raise UnknownFeatureError(
                    f"'{view.name}:{f}' is not a feature of view '{view.name}'. {did_you_mean(f, names)}"
                )
        for key, dtype in zip(view.join_keys, view.key_dtypes, strict=True):
            if key_dtypes.setdefault(key, dtype) != dtype:
                raise DefinitionError(
                    f"join key '{key}' is {key_dtypes[key]} in view '{key_owner[key]}' but {dtype} in view "
                    f"'{view.name}'; declare it with one type"
                )
            key_owner.setdefault(key, view.name)
        if view.join_keys not in groups:
            groups.append(view.join_keys)
        codec = codec_for(view.dtypes)
        decode = codec.decoder([names.index(f) for f in features], view.ttl_us)
        views.append(
            ViewRead(
                view=view,
                features=features,
                key_group=groups.index(view.join_keys),
                redis_prefix=keys.redis_key(view.namespace, "")[:-1],
                decode=decode,
            )
        )
    single = next(iter(key_dtypes)) if len(key_dtypes) == 1 else None
    return ReadPlan(tuple(views), tuple(groups), key_dtypes, key_owner, single)


def _as_list(values: Any) -> Sequence[Any]:
    if isinstance(values, list | tuple):
        return values
    for method in ("to_pylist", "to_list", "tolist"):  # pyarrow; polars / pandas; numpy
        if hasattr(values, method):
            out: list[Any] = getattr(values, method)()
            return out
    raise EntityRowsError(f"entity key columns must be lists of values, got {type(values).__name__}")


def _micros(ts: datetime) -> int:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

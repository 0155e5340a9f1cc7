"""Online features: compiled request plans (cached per feature list) and the response object."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from featurestore.dsl import FeatureService
from featurestore.dsl.aggregation import counts_events
from featurestore.errors import EntityRowsError
from featurestore.registry.model import Registry, output_names
from featurestore.versions import ServedView, online_view

NOT_FOUND = 1  # online.base.Status.NOT_FOUND, without importing pyarrow here

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from featurestore.online.base import OnlineStore, OnlineView, ViewResult
    from featurestore.online.readplan import ReadPlan


@dataclass(frozen=True)
class OnlineRequest:
    """A feature list compiled once: the store's read plan and the output column names."""

    plan: ReadPlan
    outputs: tuple[tuple[str, ...], ...]  # per view in the plan, the output column of each feature
    join_keys: tuple[str, ...]
    # Output columns that read 0, not null, for an entity never written: the counts of aggregation
    # views, which are 0 offline for an entity without events (dsl/aggregation.py).
    zero_when_missing: frozenset[str] = frozenset()
    # (plan entry, feature index) of every output column in the requested order: one view's features
    # may be read from two versions (the active one and a pending one) while a change is materialized.
    order: tuple[tuple[int, int], ...] = ()


def compile_request(
    registry: Registry,
    features: Iterable[str] | FeatureService | str,
    full_feature_names: bool,
    served: Mapping[str, ServedView] | None = None,
) -> OnlineRequest:
    """Compile a feature list; ``served`` says which version of each view to read (default: the version
    of the applied definition, as ``verify`` needs)."""
    from featurestore.online.readplan import compile_read_plan

    groups = registry.resolve(features)
    outputs = output_names(groups, full_feature_names)
    entries: dict[tuple[str, str], tuple[OnlineView, list[str], list[str]]] = {}
    order_refs: list[tuple[tuple[str, str], int]] = []
    zero: set[str] = set()
    for (rv, feats), outs in zip(groups, outputs, strict=True):
        view = served.get(rv.name) if served is not None else None
        for feat, out in zip(feats, outs, strict=True):
            target = view.version_for(feat) if view is not None else online_view(registry.project, rv)
            entry = entries.setdefault((rv.name, target.version), (target, [], []))
            order_refs.append(((rv.name, target.version), len(entry[1])))
            entry[1].append(feat)
            entry[2].append(out)
            if counts_events(rv.view, feat):
                zero.add(out)
    index = {key: i for i, key in enumerate(entries)}
    plan = compile_read_plan([(view, feats) for view, feats, _ in entries.values()])
    return OnlineRequest(
        plan=plan,
        outputs=tuple(tuple(outs) for _, _, outs in entries.values()),
        join_keys=plan.join_keys,
        zero_when_missing=frozenset(zero),
        order=tuple((index[key], i) for key, i in order_refs),
    )


def entity_columns(entity_rows: Any, join_keys: Sequence[str]) -> Mapping[str, Sequence[Any]]:
    """``[{"driver_id": 1}, ...]`` or ``{"driver_id": [1, ...]}`` -> columns of join-key values."""
    if isinstance(entity_rows, Mapping):
        return entity_rows
    if isinstance(entity_rows, list | tuple):
        try:  # the common case, at C speed; the loop below explains what is wrong otherwise
            return {k: [row[k] for row in entity_rows] for k in join_keys}
        except (KeyError, TypeError, IndexError):
            pass
        columns: dict[str, list[Any]] = {k: [] for k in join_keys}
        for i, row in enumerate(entity_rows):
            if not isinstance(row, Mapping):
                raise EntityRowsError(
                    f"entity row {i} is a {type(row).__name__}; pass dicts like {{'{join_keys[0]}': 1001}}"
                )
            for key in join_keys:
                if key not in row:
                    has = ", ".join(map(str, row)) or "nothing"
                    raise EntityRowsError(f"entity row {i} lacks join key {key!r} (it has {has})")
                columns[key].append(row[key])
        return columns
    module = type(entity_rows).__module__.split(".")[0]
    if module in ("polars", "pandas", "pyarrow"):
        return {k: entity_rows[k] for k in join_keys if k in entity_rows.columns}
    raise EntityRowsError(
        f"entity rows of type {type(entity_rows).__name__} are not supported: pass a list of dicts, "
        "a dict of columns, or a DataFrame"
    )


class OnlineResponse:
    """Online values for E entities: one column per feature, a status and event time per value.

    Statuses: ``PRESENT``, ``NOT_FOUND`` (never written), ``EXPIRED`` (older than the view's ttl).

    >>> rows = [{"driver_id": 1001}, {"driver_id": 1003}]
    >>> online = store.get_online_features("model_v1", rows)  # doctest: +SKIP
    >>> online.statuses()                                     # doctest: +SKIP
    {'conv_rate': ['PRESENT', 'NOT_FOUND'], 'trips_today': ['PRESENT', 'NOT_FOUND']}

    README: "Quickstart", "Online semantics".
    """

    def __init__(
        self, request: OnlineRequest, keys: Mapping[str, Sequence[Any]], results: tuple[ViewResult, ...]
    ) -> None:
        self._request = request
        self._keys = keys
        self._results = results

    def __len__(self) -> int:
        return len(self._results[0].status) if self._results else 0

    def _columns(self) -> Iterable[tuple[str, ViewResult, int]]:
        outputs, results = self._request.outputs, self._results
        for entry, i in self._request.order:
            yield outputs[entry][i], results[entry], i

    def to_dict(self) -> dict[str, list[Any]]:
        """Join keys and feature values as Python lists."""
        out: dict[str, list[Any]] = {k: list(self._keys[k]) for k in self._request.join_keys}
        for name, result, i in self._columns():
            out[name] = result.values(result.features[i])  # no Arrow round trip
            if name in self._request.zero_when_missing:
                out[name] = [
                    0 if s == NOT_FOUND else v for v, s in zip(out[name], result.status_codes, strict=True)
                ]
        return out

    def statuses(self) -> dict[str, list[str]]:
        """The status of every value, by output column."""
        return {name: result.statuses() for name, result, _ in self._columns()}

    def event_timestamps(self) -> dict[str, list[datetime | None]]:
        """The event time of every value (null when NOT_FOUND), by output column."""
        return {name: result.event_times() for name, result, _ in self._columns()}

    def to_arrow(self, *, statuses: bool = False, event_timestamps: bool = False) -> pa.Table:
        import pyarrow as pa

        arrays: dict[str, Any] = {k: pa.array(list(self._keys[k])) for k in self._request.join_keys}
        for name, result, i in self._columns():
            arrays[name] = result.columns[i]
            if name in self._request.zero_when_missing:
                import pyarrow.compute as pc

                missing = pc.equal(result.status.indices, NOT_FOUND)
                arrays[name] = pc.if_else(missing, pa.scalar(0, arrays[name].type), arrays[name])
            if statuses:
                arrays[f"{name}__status"] = result.status
            if event_timestamps:
                arrays[f"{name}__event_timestamp"] = result.event_ts
        return pa.table(arrays)

    def to_polars(self, *, statuses: bool = False, event_timestamps: bool = False) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow(statuses=statuses, event_timestamps=event_timestamps))
        if not isinstance(frame, pl.DataFrame):
            frame = frame.to_frame()
        return frame

    def __repr__(self) -> str:
        return f"<OnlineResponse {len(self)} entities: {', '.join(n for n, _, _ in self._columns())}>"


def read_online(
    store: OnlineStore, request: OnlineRequest, entity_rows: Any, now: datetime | None = None
) -> OnlineResponse:
    keys = entity_columns(entity_rows, request.join_keys)
    return OnlineResponse(request, keys, store.read(request.plan, keys, now=now))

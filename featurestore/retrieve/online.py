"""Online features: compiled request plans (cached per feature list) and the response object."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from featurestore.display import Table, arrow_table, count, html_of, plural, text
from featurestore.dsl import FeatureService
from featurestore.dsl.aggregation import counts_events
from featurestore.errors import EntityRowsError
from featurestore.registry.model import Registry, output_names
from featurestore.versions import ServedView, online_view

NOT_FOUND = 1  # online.base.Status.NOT_FOUND, without importing pyarrow here
SHOWN_ENTITIES = 20
"""How many entities the repr of an online response shows."""

if TYPE_CHECKING:
    import pandas as pd
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

    def read(
        self,
        store: OnlineStore,
        entity_rows: Any,
        request_data: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """The values for ``entity_rows`` (``request_data`` is for on-demand requests: unused here)."""
        return read_online(store, self, entity_rows, now)


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
            return {k: list(map(itemgetter(k), entity_rows)) for k in join_keys}
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
        keys, request, results = self._keys, self._request, self._results
        out: dict[str, list[Any]] = {k: list(keys[k]) for k in request.join_keys}
        outputs, zero = request.outputs, request.zero_when_missing
        for entry, i in request.order:
            name, result = outputs[entry][i], results[entry]
            values = result.values_at(i)  # no Arrow round trip
            if zero and name in zero:
                values = [
                    0 if s == NOT_FOUND else v for v, s in zip(values, result.status_codes, strict=True)
                ]
            out[name] = values
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

    def to_pandas(self, *, statuses: bool = False, event_timestamps: bool = False) -> pd.DataFrame:
        """As :meth:`to_arrow`, in pandas: integer and boolean columns with nulls stay integers and
        booleans (pandas' nullable ``Int64``, ``boolean``), as in :meth:`to_polars`. Needs pandas."""
        table = self.to_arrow(statuses=statuses, event_timestamps=event_timestamps)
        return pandas_frame(table, "OnlineResponse")

    def _status_items(self) -> list[tuple[str, str, list[str]]]:
        shown = min(len(self), SHOWN_ENTITIES)
        return [(r.view.name, name, r.statuses()[:shown]) for name, r, _ in self._columns()]

    def __repr__(self) -> str:
        """A table of the first entities: join keys, values, and a status column per view."""
        return text([response_table("OnlineResponse", self.to_arrow(), self._status_items())])

    def _repr_html_(self) -> str:
        return html_of([response_table("OnlineResponse", self.to_arrow(), self._status_items())])


def pandas_frame(table: pa.Table, what: str) -> pd.DataFrame:
    """An Arrow table in pandas, integer and boolean columns as pandas' nullable dtypes (``Int64``,
    ``boolean``: a null stays a null, an integer stays an integer, exactly). pandas (the ``pandas``
    extra) is imported by pyarrow, only when asked for."""
    import pyarrow as pa

    try:
        # Integers with nulls as Python ints (never floats), made nullable integers below, exactly.
        frame: pd.DataFrame = table.to_pandas(integer_object_nulls=True)
    except ModuleNotFoundError as exc:
        if exc.name != "pandas":
            raise
        raise ModuleNotFoundError(
            f"{what}.to_pandas() needs pandas, which is not installed: pip install 'featurestore[pandas]' "
            "(or use .to_polars() or .to_arrow())",
            name="pandas",
        ) from None
    for field in table.schema:
        if pa.types.is_integer(field.type):
            unsigned = "U" if pa.types.is_unsigned_integer(field.type) else ""
            frame[field.name] = frame[field.name].astype(f"{unsigned}Int{field.type.bit_width}")
        elif pa.types.is_boolean(field.type):
            frame[field.name] = frame[field.name].astype("boolean")
    return frame


def status_columns(items: Sequence[tuple[str, str, list[str]]]) -> list[tuple[str, list[str]]]:
    """``(view, column, statuses)`` per value column -> one status column per view, ``"<view> status"``.
    A view whose columns disagree (read from two versions while a change is materialized) gets one per
    group of columns, naming them.

    >>> status_columns([("v", "a", ["PRESENT"]), ("v", "b", ["PRESENT"]), ("w", "c", ["NOT_FOUND"])])
    [('v status', ['PRESENT']), ('w status', ['NOT_FOUND'])]
    >>> [n for n, _ in status_columns([("v", "a", ["PRESENT"]), ("v", "b", ["EXPIRED"])])]
    ['v status (a)', 'v status (b)']
    """
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for view, column, statuses in items:
        groups.setdefault((view, tuple(statuses)), []).append(column)
    per_view: dict[str, int] = {}
    for view, _ in groups:
        per_view[view] = per_view.get(view, 0) + 1
    out = []
    for (view, codes), columns in groups.items():
        label = f"{view} status" if per_view[view] == 1 else f"{view} status ({', '.join(columns)})"
        out.append((label, list(codes)))
    return out


def response_table(what: str, table: pa.Table, statuses: Sequence[tuple[str, str, list[str]]]) -> Table:
    """The display :class:`~featurestore.display.Table` of an online response's first entities: the
    keys and values of ``table``, then a status column per view (statuses never sit in value cells)."""
    import pyarrow as pa

    total = table.num_rows
    shown = table.slice(0, SHOWN_ENTITIES)
    for label, values in status_columns(statuses):
        shown = shown.append_column(label, pa.array(values, pa.string()))
    notes = [
        "status: PRESENT, NOT_FOUND (never written) or EXPIRED (older than the view's ttl); "
        "values not PRESENT read null (counts of events: 0)"
    ]
    if total > SHOWN_ENTITIES:
        notes.append(
            f"showing the first {count(SHOWN_ENTITIES)} of {plural(total, 'entity', 'entities')}: "
            ".to_polars() or .to_pandas() for all"
        )
    title = f"{what}: {plural(total, 'entity', 'entities')}, {plural(len(statuses), 'feature')}"
    return arrow_table(title, shown, notes)


def read_online(
    store: OnlineStore, request: OnlineRequest, entity_rows: Any, now: datetime | None = None
) -> OnlineResponse:
    keys = entity_columns(entity_rows, request.join_keys)
    return OnlineResponse(request, keys, store.read(request.plan, keys, now=now))

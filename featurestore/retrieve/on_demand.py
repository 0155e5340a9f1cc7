"""Request-time (on-demand) features in both read paths: one function, run online and offline.

A feature list that names an on-demand view is split into the base features it needs (requested ones
plus the inputs of its on-demand views, read under full ``view__feature`` names so nothing collides) and
steps that run the views' functions over those columns and the request data. Online, the base features
come from one ``read_online`` call; offline, from one training set. The function receives the same
polars DataFrame in both (columns named by input, typed as declared), so a row-wise function gives the
same values online and offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.display import html_of, text
from featurestore.dsl import FeatureService, OnDemandFeatureView
from featurestore.dsl.dtypes import arrow_type
from featurestore.errors import (
    EntityRowsError,
    FeatureNameCollisionError,
    OnDemandFeatureError,
    UnknownFeatureError,
)
from featurestore.registry.code import CodeMode, resolve_function
from featurestore.registry.model import Registry
from featurestore.retrieve.online import (
    SHOWN_ENTITIES,
    OnlineRequest,
    compile_request,
    pandas_frame,
    read_online,
    response_table,
)
from featurestore.retrieve.training import PREVIEW_ROWS, TrainingSet, build_training_set

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from featurestore.engines.base import Engine
    from featurestore.online.base import OnlineStore
    from featurestore.versions import ServedView


@dataclass(frozen=True)
class Step:
    """One on-demand view to compute: its function, where its inputs come from, its output columns."""

    odfv: OnDemandFeatureView
    udf: Any
    inputs: tuple[tuple[str, str, str | None], ...]
    """``(input name, dtype, base column)``; the base column is None for a request field."""
    outputs: tuple[tuple[str, str, str], ...]
    """``(feature, dtype, output column)`` of the requested features."""
    input_views: tuple[str, ...]


@dataclass(frozen=True)
class Split:
    """A feature list with on-demand features, compiled."""

    base_refs: tuple[str, ...]
    """``view:feature`` of every base feature read (requested ones and on-demand inputs)."""
    columns: tuple[tuple[str, str], ...]
    """The output columns in requested order: ``(output name, column in the working table)``."""
    steps: tuple[Step, ...]
    request_fields: dict[str, str]


def _refs(registry: Registry, features: Iterable[str] | FeatureService | str) -> list[str]:
    if isinstance(features, FeatureService):
        return features.feature_refs()
    if isinstance(features, str):
        return registry.service(features).feature_refs() if ":" not in features else [features]
    return list(features)


def split_request(
    registry: Registry,
    features: Iterable[str] | FeatureService | str,
    full_feature_names: bool,
    root: Path,
    code: CodeMode = "registry",
) -> Split | None:
    """Compile a feature list naming on-demand views; ``None`` when it names none. Each view's function
    is resolved by ``registry/code.py`` (``code``: ``[registry] on_demand_code``)."""
    if not registry.on_demand_views:
        return None
    refs = _refs(registry, features)
    named = {r.split(":", 1)[0] for r in refs if isinstance(r, str)}
    if not named & registry.on_demand_views.keys():
        return None
    base: list[str] = []
    columns: list[tuple[str, str]] = []
    wanted: dict[str, list[str]] = {}
    for ref in refs:
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise UnknownFeatureError(
                f"feature reference {ref!r} is not of the form 'view:feature' (for example "
                "'driver_stats:conv_rate')"
            )
        view, feature = ref.split(":")
        odfv = registry.on_demand_views.get(view)
        if odfv is None:
            for v, f in registry.expand([ref]):
                full = f"{v}__{f}"
                columns.append((full if full_feature_names else f, full))
                base.append(f"{v}:{f}")
            continue
        names = list(odfv.feature_names) if feature == "*" else [odfv.feature(feature).name]
        for f in names:
            if f in wanted.setdefault(view, []):
                raise FeatureNameCollisionError(f"feature {view}:{f} is requested twice")
            wanted[view].append(f)
            full = f"{view}__{f}"
            columns.append((full if full_feature_names else f, full))
    steps = []
    request_fields: dict[str, str] = {}
    for view, feats in wanted.items():
        odfv = registry.on_demand_views[view]
        for field in odfv.request_fields:
            if request_fields.setdefault(field.name, field.dtype) != field.dtype:
                raise FeatureNameCollisionError(
                    f"request field {field.name!r} is {request_fields[field.name]} in one on-demand view and "
                    f"{field.dtype} in {view!r}; declare it with one type"
                )
        inputs: list[tuple[str, str, str | None]] = [(f.name, f.dtype, None) for f in odfv.request_fields]
        for projection in odfv.view_inputs:
            registry.view(projection.view.name)
            for f in projection.features:
                base.append(f"{projection.view.name}:{f}")
                inputs.append((f, projection.view.feature(f).dtype, f"{projection.view.name}__{f}"))
        outputs = tuple((f, odfv.feature(f).dtype, f"{view}__{f}") for f in feats)
        views = tuple(p.view.name for p in odfv.view_inputs)
        steps.append(Step(odfv, resolve_function(odfv, registry, root, code), tuple(inputs), outputs, views))
    seen: dict[str, str] = {}
    for out, source in columns:
        if out in seen:
            raise FeatureNameCollisionError(
                f"output column {out!r} of {source.replace('__', ':')} collides with {seen[out]}. "
                "Pass {flag} to name columns 'view__feature'."
            )
        seen[out] = source.replace("__", ":")
    return Split(tuple(dict.fromkeys(base)), tuple(columns), tuple(steps), request_fields)


def run_step(step: Step, frame: pl.DataFrame) -> dict[str, pa.Array]:
    """Run one on-demand view's function over ``frame`` (its inputs); its outputs as typed Arrow."""
    import polars as pl

    odfv = step.odfv
    what = f"on-demand feature view {odfv.name!r}{odfv.where()}"
    computing = ", ".join(f"'{odfv.name}:{feature}'" for feature, _, _ in step.outputs)
    try:
        result = step.udf(frame)
    except Exception as exc:
        raise OnDemandFeatureError(
            f"{what}, computing {computing}, raised {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(result, pl.Series):
        result = result.to_frame()
    if not isinstance(result, pl.DataFrame):
        raise OnDemandFeatureError(
            f"{what} returned a {type(result).__name__}; return a polars DataFrame with columns "
            f"{', '.join(odfv.feature_names)}"
        )
    if result.height != frame.height:
        raise OnDemandFeatureError(
            f"{what} returned {result.height} rows for {frame.height} input rows; "
            "compute one row per input row"
        )
    out = {}
    for feature, dtype, _ in step.outputs:
        if feature not in result.columns:
            raise OnDemandFeatureError(
                f"{what} returned no column {feature!r} (it returned {', '.join(result.columns) or 'none'})"
            )
        array = result.get_column(feature).to_arrow()
        try:
            out[feature] = array.cast(arrow_type(dtype))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise OnDemandFeatureError(
                f"{what}: feature {feature!r} is declared {dtype} but the function returned "
                f"{array.type}: {exc}"
            ) from None
    return out


def _input_frame(step: Step, base: Mapping[str, Any], request: Mapping[str, pa.Array]) -> pl.DataFrame:
    import polars as pl

    arrays = {name: (request[name] if column is None else base[column]) for name, _, column in step.inputs}
    frame = pl.from_arrow(pa.table(arrays))
    assert isinstance(frame, pl.DataFrame)
    return frame


def request_columns(split: Split, data: Mapping[str, Any] | None, n: int, where: str) -> dict[str, pa.Array]:
    """The request fields as Arrow arrays of their declared types, or an error naming the field."""
    out = {}
    for name, dtype in split.request_fields.items():
        if data is None or name not in data:
            raise EntityRowsError(
                f"on-demand features need request field {name!r} ({dtype}) in {where}; "
                f"give one value per entity row"
            )
        values = data[name]
        try:
            if isinstance(values, pa.ChunkedArray):
                array = values.combine_chunks()
            else:
                array = values if isinstance(values, pa.Array) else pa.array(_as_list(values))
            if len(array) != n:
                raise EntityRowsError(f"request field {name!r} has {len(array)} values for {n} entity rows")
            if pa.types.is_string(array.type) and dtype not in ("string", "bytes"):
                raise pa.ArrowInvalid(f"strings are not {dtype}")
            if pa.types.is_boolean(array.type) and dtype != "bool":
                raise pa.ArrowInvalid(f"booleans are not {dtype}")
            out[name] = array.cast(arrow_type(dtype))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as exc:
            raise EntityRowsError(f"request field {name!r} expects {dtype} values: {exc}") from None
    return out


def _as_list(values: Any) -> Any:
    if isinstance(values, list | tuple):
        return values
    for method in ("to_arrow", "to_numpy"):
        if hasattr(values, method):
            return getattr(values, method)()
    return list(values)


# -- online ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnDemandRequest:
    """A compiled online request with on-demand features (cached like :class:`OnlineRequest`)."""

    split: Split
    base: OnlineRequest | None
    join_keys: tuple[str, ...]

    def read(
        self,
        store: OnlineStore,
        entity_rows: Any,
        request_data: Mapping[str, Any] | None,
        now: datetime | None,
    ) -> OnDemandResponse:
        base = None if self.base is None else read_online(store, self.base, entity_rows, now)
        if base is not None:
            n = len(base)
            table = base.to_arrow(statuses=True, event_timestamps=True)
            keys = {k: table.column(k).to_pylist() for k in self.join_keys}
        else:
            keys = (
                {k: list(v) for k, v in dict(entity_rows).items()} if isinstance(entity_rows, Mapping) else {}
            )
            n = len(next(iter(keys.values()))) if keys else len(next(iter((request_data or {}).values()), []))
            table = pa.table({})
        request = request_columns(self.split, request_data, n, "request_data")
        columns: dict[str, tuple[pa.Array, list[str], list[Any]]] = {}
        base_cols = {name: table.column(name) for name in table.column_names}
        for step in self.split.steps:
            outputs = run_step(step, _input_frame(step, base_cols, request))
            statuses, times = _combined(step, table, n)
            for feature, _, column in step.outputs:
                columns[column] = (outputs[feature], statuses, times)
        ordered = {}
        for out, column in self.split.columns:
            if column in columns:
                ordered[out] = columns[column]
            else:
                ordered[out] = (
                    table.column(column).combine_chunks(),
                    table.column(f"{column}__status").to_pylist(),
                    table.column(f"{column}__event_timestamp").to_pylist(),
                )
        views = {out: column.split("__", 1)[0] for out, column in self.split.columns}
        return OnDemandResponse(keys, ordered, n, views)


def _combined(step: Step, table: pa.Table, n: int) -> tuple[list[str], list[Any]]:
    """Per row: the first non-PRESENT status among the input views, and their latest event time."""
    statuses = ["PRESENT"] * n
    times: list[Any] = [None] * n
    for view in step.input_views:
        column = next(c for _, _, c in step.inputs if c is not None and c.startswith(f"{view}__"))
        for i, (status, ts) in enumerate(
            zip(
                table.column(f"{column}__status").to_pylist(),
                table.column(f"{column}__event_timestamp").to_pylist(),
                strict=True,
            )
        ):
            if statuses[i] == "PRESENT" and status != "PRESENT":
                statuses[i] = status
            if ts is not None and (times[i] is None or ts > times[i]):
                times[i] = ts
    return statuses, times


class OnDemandResponse:
    """The :class:`OnlineResponse` interface for a request with on-demand features."""

    def __init__(
        self,
        keys: dict[str, list[Any]],
        columns: dict[str, tuple[pa.Array, list[str], list[Any]]],
        n: int,
        views: Mapping[str, str] | None = None,
    ) -> None:
        """``views``: the (on-demand or base) view of each output column, for the status columns of
        the repr (default: each column its own)."""
        self._keys = keys
        self._columns = columns
        self._n = n
        self._views = dict(views or {})

    def __len__(self) -> int:
        return self._n

    def to_dict(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {k: list(v) for k, v in self._keys.items()}
        out.update({name: array.to_pylist() for name, (array, _, _) in self._columns.items()})
        return out

    def statuses(self) -> dict[str, list[str]]:
        return {name: list(statuses) for name, (_, statuses, _) in self._columns.items()}

    def event_timestamps(self) -> dict[str, list[datetime | None]]:
        return {name: list(times) for name, (_, _, times) in self._columns.items()}

    def to_arrow(self, *, statuses: bool = False, event_timestamps: bool = False) -> pa.Table:
        arrays: dict[str, Any] = {k: pa.array(v) for k, v in self._keys.items()}
        for name, (array, status, times) in self._columns.items():
            arrays[name] = array
            if statuses:
                arrays[f"{name}__status"] = pa.array(status, pa.string()).dictionary_encode()
            if event_timestamps:
                arrays[f"{name}__event_timestamp"] = pa.array(times, pa.timestamp("us", tz="UTC"))
        return pa.table(arrays)

    def to_polars(self, *, statuses: bool = False, event_timestamps: bool = False) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow(statuses=statuses, event_timestamps=event_timestamps))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_pandas(self, *, statuses: bool = False, event_timestamps: bool = False) -> pd.DataFrame:
        """As :meth:`OnlineResponse.to_pandas`: nullable integer columns stay integers. Needs pandas."""
        table = self.to_arrow(statuses=statuses, event_timestamps=event_timestamps)
        return pandas_frame(table, "OnDemandResponse")

    def _status_items(self) -> list[tuple[str, str, list[str]]]:
        shown = min(self._n, SHOWN_ENTITIES)
        return [
            (self._views.get(name, name), name, list(statuses[:shown]))
            for name, (_, statuses, _) in self._columns.items()
        ]

    def __repr__(self) -> str:
        """A table of the first entities: join keys, values, and a status column per view."""
        return text([response_table("OnDemandResponse", self.to_arrow(), self._status_items())])

    def _repr_html_(self) -> str:
        return html_of([response_table("OnDemandResponse", self.to_arrow(), self._status_items())])


def compile_online(
    registry: Registry,
    features: Iterable[str] | FeatureService | str,
    full_feature_names: bool,
    root: Path,
    served: Mapping[str, ServedView] | None = None,
    code: CodeMode = "registry",
) -> OnlineRequest | OnDemandRequest:
    """The compiled request for a feature list, with or without on-demand features."""
    split = split_request(registry, features, full_feature_names, root, code)
    if split is None:
        return compile_request(registry, features, full_feature_names, served)
    base = compile_request(registry, list(split.base_refs), True, served) if split.base_refs else None
    return OnDemandRequest(split, base, base.join_keys if base is not None else ())


# -- offline ---------------------------------------------------------------------------------------------


class OnDemandTrainingSet(TrainingSet):
    """A training set with on-demand features: the base training set, then the functions, per batch."""

    def __init__(self, inner: TrainingSet, split: Split, entity_columns: Sequence[str]) -> None:
        # The inner training set owns the engine registration; this one only post-processes its batches.
        self._inner = inner
        self._split = split
        self._entity_columns = tuple(entity_columns)
        self.plan = inner.plan
        self.sql = inner.sql
        self._views = inner._views  # the base views' feature checks (``validate``)

    def __del__(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._inner)

    @property
    def columns(self) -> list[str]:
        return [*self._entity_columns, *(out for out, _ in self._split.columns)]

    def explain(self) -> str:
        steps = "\n".join(
            f"then on-demand view {s.odfv.name}: {s.odfv.function_name}"
            f"({', '.join(n for n, _, _ in s.inputs)})"
            for s in self._split.steps
        )
        return f"{self._inner.explain()}\n\n-- on-demand (polars, per batch)\n{steps}"

    def _finish(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        request = request_columns(
            self._split, {c: table.column(c) for c in table.column_names}, n, "entity rows"
        )
        base = {name: table.column(name) for name in table.column_names}
        computed: dict[str, pa.Array] = {}
        for step in self._split.steps:
            outputs = run_step(step, _input_frame(step, base, request))
            for feature, _, column in step.outputs:
                computed[column] = outputs[feature]
        arrays = [table.column(c) for c in self._entity_columns]
        arrays += [computed[col] if col in computed else table.column(col) for _, col in self._split.columns]
        return pa.Table.from_arrays(arrays, names=self.columns)

    @property
    def feature_columns(self) -> list[str]:
        return [out for out, _ in self._split.columns]

    def to_arrow(self, *, profile: bool = False) -> pa.Table:
        return self._profile_table(self._finish(self._inner.to_arrow()), profile)

    def to_batches(self, batch_size: int = 100_000) -> Iterator[pa.Table]:
        for table in self._inner.to_batches(batch_size):
            yield self._finish(table)

    def head(self, rows: int = PREVIEW_ROWS) -> TrainingSet:
        """The same training set over the first ``rows`` entity rows only (see :meth:`TrainingSet.head`)."""
        inner = self._inner.head(rows)
        return self if inner is self._inner else OnDemandTrainingSet(inner, self._split, self._entity_columns)

    def preview(self, rows: int = PREVIEW_ROWS) -> pa.Table:
        return self.head(rows).to_arrow()

    def _origins(self) -> list[tuple[str, str, str]]:
        inner = {column: (origin, dtype) for column, origin, dtype in self._inner._origins()}
        computed = {
            column: (f"{s.odfv.name}:{feature} (on demand)", dtype)
            for s in self._split.steps
            for feature, dtype, column in s.outputs
        }
        out = [(c, *inner.get(c, ("entity rows", ""))) for c in self._entity_columns]
        for name, column in self._split.columns:
            out.append((name, *(computed.get(column) or inner.get(column, ("", "")))))
        return out


def build_on_demand_training_set(
    registry: Registry,
    engine: Engine,
    root: Path,
    entity_df: Any,
    features: Iterable[str] | FeatureService | str,
    *,
    full_feature_names: bool,
    timestamp_column: str,
    as_known_at: bool,
    code: CodeMode = "registry",
) -> TrainingSet | None:
    """A training set with on-demand features, or ``None`` when ``features`` names none."""
    split = split_request(registry, features, full_feature_names, root, code)
    if split is None:
        return None
    if not split.base_refs:
        raise UnknownFeatureError(
            "a training set needs at least one feature of a feature view besides on-demand features "
            "computed from request data alone"
        )
    from featurestore.retrieve.entity_rows import to_arrow_table

    table = to_arrow_table(entity_df, engine)
    missing = [f for f in split.request_fields if f not in table.column_names]
    if missing:
        raise EntityRowsError(
            f"entity rows lack column(s) {', '.join(missing)}: on-demand features read them as request data"
        )
    clash = sorted({out for out, _ in split.columns} & set(table.column_names))
    if clash:
        raise FeatureNameCollisionError(
            f"output column(s) {clash} collide with entity-row columns; pass {{flag}} or "
            "rename the entity-row columns"
        )
    inner = build_training_set(
        registry,
        engine,
        root,
        table,
        list(split.base_refs),
        full_feature_names=True,
        timestamp_column=timestamp_column,
        as_known_at=as_known_at,
    )
    return OnDemandTrainingSet(inner, split, table.column_names)

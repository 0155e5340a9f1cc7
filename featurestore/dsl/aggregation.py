"""Aggregation: a feature computed over a time window of an event source, e.g. "amount summed over 7 days".

A feature view declares ``aggregations=[...]`` instead of ``features=[...]``; its features are derived
from them. Each source row is one event. For an entity row at ``t`` an aggregation with window ``w``
covers the events with the same join keys and ``t - w < ts <= t``: an event exactly at ``t`` counts,
one exactly at ``t - w`` does not. ``window=None`` is the lifetime window (every event with ``ts <= t``).

* Nulls in the aggregated column are ignored by every function; ``count`` counts non-null values (count
  the event timestamp column to count every event).
* With no (non-null) value in the window ``count`` and ``count_distinct`` are 0, the others null.
* ``stddev`` is the sample standard deviation (null below two values); ``mean`` is a float64.
* ``last`` is the value of the latest event in the window with a non-null value; events tied on time go
  to the greatest created timestamp (null lowest), then to the greatest value.
* Every row counts: rows sharing keys and event time are separate events (no deduplication).

Output types: ``count`` and ``count_distinct`` int64; ``mean`` and ``stddev`` float64; ``sum`` int64
over integer and boolean columns, float64 otherwise; ``min``, ``max`` and ``last`` keep the column's
type. Types that depend on the column are settled by ``apply`` (which reads the source's schema);
``dtype=`` pins one.

    >>> from datetime import timedelta
    >>> a = Aggregation("amount", "sum", timedelta(days=7))
    >>> a.name, Aggregation("amount", "max", None).name
    ('amount_sum_7d', 'amount_max_lifetime')
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from featurestore.aggregates import function, unknown_function
from featurestore.dsl.base import ModelType, caller_location, check_identifier
from featurestore.dsl.checks import FEATURE_CHECKS, FeatureCheck, only
from featurestore.dsl.dtypes import DTYPES, DType, decimal_scale, is_date, is_time_type, type_name
from featurestore.errors import DefinitionError

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.aggregates import ColumnKind
    from featurestore.dsl.view import FeatureView

Function = Literal["count", "sum", "mean", "min", "max", "stddev", "last", "count_distinct"]
FUNCTIONS: tuple[str, ...] = get_args(Function)  # the names of ``aggregates.FUNCTIONS`` (a test checks)

# Column types by Arrow name; decimals of scale 0 (DuckDB's HUGEINT) count as integers, timestamps of
# every unit and zone as timestamps (``dsl/dtypes.py``).
_INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
_FLOATS = frozenset({"halffloat", "float", "double"})
_KIND_DTYPE: dict[str, DType] = {
    "integer": "int64",
    "bool": "bool",
    "string": "string",
    "bytes": "bytes",
    "timestamp": "timestamp",
    "date": "date",
}
_UNITS = (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000))


def window_label(window: timedelta | None) -> str:
    """The window as used in default feature names.

    >>> window_label(timedelta(days=7)), window_label(timedelta(minutes=90)), window_label(None)
    ('7d', '90m', 'lifetime')
    """
    if window is None:
        return "lifetime"
    micros = window // timedelta(microseconds=1)
    for unit, size in _UNITS:
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"


def column_kind(arrow_type: str | pa.DataType) -> str:
    """``integer``, ``float``, ``bool``, ``string``, ``bytes``, ``timestamp``, ``date`` or ``other``.

    >>> column_kind("int64"), column_kind("decimal128(10, 2)"), column_kind("list<item: int32>")
    ('integer', 'float', 'other')
    >>> column_kind("decimal128(38, 0)"), column_kind("timestamp[ns, tz=UTC]"), column_kind("date32[day]")
    ('integer', 'timestamp', 'date')
    """
    name = type_name(arrow_type)
    if name in _INTEGERS or decimal_scale(name) == 0:
        return "integer"
    if name in _FLOATS or decimal_scale(name) is not None:
        return "float"
    if name in ("bool", "string"):
        return name
    if name == "binary":
        return "bytes"
    if is_date(name):
        return "date"
    if is_time_type(name):
        return "timestamp"
    return "other"


def output_dtype(function_name: str, arrow_type: str) -> str | None:
    """The feature dtype of ``function_name`` over a column of Arrow type ``arrow_type``; None if it does
    not fit.

    >>> output_dtype("sum", "int32"), output_dtype("sum", "double"), output_dtype("max", "string")
    ('int64', 'float64', 'string')
    >>> output_dtype("mean", "string") is None
    True
    """
    kind = cast("ColumnKind", column_kind(arrow_type))
    fn = function(function_name)
    if kind not in fn.accepts:
        return None
    return fn.output_dtype(kind, _column_dtype(kind, arrow_type))


def _column_dtype(kind: str, column_type: str) -> DType | None:
    """The feature dtype of a column's own values (what min, max and last keep); None for ``other``."""
    if kind == "float":
        return "float32" if type_name(column_type) in ("float", "halffloat") else "float64"
    return _KIND_DTYPE.get(kind)


def accepted_kinds(function_name: str) -> str:
    """A phrase for error messages: what kinds of column ``function_name`` accepts."""
    return function(function_name).accepted_kinds()


class Aggregation(BaseModel, metaclass=ModelType):
    """``Aggregation(column, function, window, name=None)``: one windowed aggregate feature.

    ``window=None`` aggregates over the entity's whole history. ``name`` defaults to
    ``<column>_<function>_<window>`` (``amount_sum_7d``, ``amount_max_lifetime``).

    >>> Aggregation("amount", "count", timedelta(hours=1)).dtype
    'int64'

    README: "Windowed aggregations".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind_label: ClassVar[str] = "Aggregation"

    column: str
    function: str
    window: timedelta | None
    name: str
    dtype: str | None = None  # the output dtype; None until apply settles a column-dependent type
    description: str = ""
    checks: tuple[FeatureCheck, ...] = ()  # the derived feature's validation rules (dsl/checks.py)

    def __init__(
        self,
        column: str,
        function: str,
        window: timedelta | None,
        name: str | None = None,
        **extra: Any,
    ) -> None:
        try:
            super().__init__(column=column, function=function, window=window, name=name or "", **extra)
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            where = caller_location()
            at = f" ({where})" if where else ""
            label = name or f"{column}/{function}"
            raise DefinitionError(f"Aggregation {label!r}{at} is invalid: {problems}") from None

    @field_validator("column")
    @classmethod
    def _column(cls, value: str) -> str:
        return check_identifier("aggregated column", value)

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        if value not in FUNCTIONS:
            raise ValueError(unknown_function(value))
        return value

    @field_validator("checks", mode="before")
    @classmethod
    def _checks(cls, value: Any) -> Any:
        return only(value, FEATURE_CHECKS, "an aggregation", "FeatureView(..., checks=[...])")

    @field_validator("window")
    @classmethod
    def _window(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(
                f"window must be positive, got {value}; use window=None for the entity's whole history"
            )
        return value

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        if value is not None and value not in DTYPES:
            raise ValueError(f"unknown dtype {value!r}: known: {', '.join(DTYPES)}")
        return value

    @model_validator(mode="after")
    def _derive(self) -> Aggregation:
        if not self.name:
            object.__setattr__(self, "name", f"{self.column}_{self.function}_{window_label(self.window)}")
        check_identifier("feature", self.name, allow_double_underscore=False)
        fixed = function(self.function).fixed_dtype
        if self.dtype is None and fixed is not None:
            object.__setattr__(self, "dtype", fixed)
        return self

    @property
    def feature_dtype(self) -> str:
        """The dtype of the derived feature (``float64`` until apply settles a column-dependent type)."""
        return self.dtype or "float64"

    def identity(self) -> list[Any]:
        """What changes this aggregate's values (for the view's data fingerprint)."""
        micros = None if self.window is None else self.window // timedelta(microseconds=1)
        return [self.name, self.column, self.function, micros, self.dtype]


def prepare_aggregation_view(data: Any) -> Any:
    """A feature view's input with aggregations: derive its features, default its ttl to None.

    Runs before the view's own validation. Views without aggregations pass through unchanged.
    """
    if not isinstance(data, dict) or not data.get("aggregations"):
        return data
    raw = data["aggregations"]
    if not isinstance(raw, list | tuple):
        raise ValueError("aggregations must be a list of Aggregation(column, function, window)")
    aggregations = [a if isinstance(a, Aggregation) else Aggregation.model_validate(a) for a in raw]
    names = [a.name for a in aggregations]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"aggregations {dupes} share a name; give one of them another name with "
            "Aggregation(..., name='...')"
        )
    ttl = data.get("ttl")
    if ttl is not None:
        raise ValueError(
            f"ttl={ttl} is not allowed on a view with aggregations: each aggregate is computed at the "
            "entity row's time over its own window, so nothing expires. Leave ttl out (or pass ttl=None)."
        )
    from featurestore.dsl.feature import Feature

    derived = [Feature(a.name, a.feature_dtype, a.description, checks=a.checks) for a in aggregations]
    given = data.get("features") or ()
    if given and [_name_dtype(f) for f in given] != [(f.name, f.dtype) for f in derived]:
        raise ValueError(
            "a view with aggregations derives its features from them (one per aggregation, named by "
            "its name); remove features=[...] or put those features in a separate view"
        )
    return {**data, "aggregations": tuple(aggregations), "features": tuple(derived), "ttl": None}


def _name_dtype(feature: Any) -> tuple[Any, Any]:
    if isinstance(feature, dict):
        return feature.get("name"), feature.get("dtype")
    return getattr(feature, "name", None), getattr(feature, "dtype", None)


_NUMERIC = frozenset({"int32", "int64", "float32", "float64"})


def resolve_aggregations(view: FeatureView, schema: dict[str, str]) -> FeatureView:
    """The view with every aggregation checked against its source's columns and its dtype settled.

    Raises ``SchemaMismatchError`` naming the view, its file:line, the column and the fix.
    """
    from featurestore.dsl.view import FeatureView
    from featurestore.errors import SchemaMismatchError, did_you_mean

    where = f"feature view {view.name!r}{view.where()}"
    resolved = []
    for agg in view.aggregations:
        if agg.column not in schema:
            raise SchemaMismatchError(
                f"{where}: aggregation {agg.name!r} reads column {agg.column!r}, which its source does "
                f"not have. {did_you_mean(agg.column, schema)}"
            )
        actual = schema[agg.column]
        derived = output_dtype(agg.function, actual)
        if derived is None:
            raise SchemaMismatchError(
                f"{where}: aggregation {agg.name!r} takes the {agg.function} of column {agg.column!r}, "
                f"which has type {actual}; {agg.function} needs a {accepted_kinds(agg.function)} column. "
                f"Aggregate another column, choose another function, or cast the column in a SqlSource."
            )
        dtype = agg.dtype or derived
        if dtype != derived and not (dtype in _NUMERIC and derived in _NUMERIC):
            raise SchemaMismatchError(
                f"{where}: aggregation {agg.name!r} pins dtype={dtype!r}, but the {agg.function} of a "
                f"{actual} column is {derived}. Drop dtype= or pin a type {derived} converts to."
            )
        resolved.append(agg.model_copy(update={"dtype": dtype}))
    fields = {name: getattr(view, name) for name in type(view).model_fields}
    return FeatureView.model_validate({**fields, "aggregations": tuple(resolved), "features": ()})


def counts_events(view: FeatureView, feature: str) -> bool:
    """Is ``feature`` of ``view`` a count (0, never null, with no events)?"""
    return any(a.name == feature and function(a.function).empty == 0 for a in view.aggregations)

"""Request-time (on-demand) features: a typed Python function over request data and other views' features.

The function takes one polars DataFrame holding its inputs (request fields and view features, each column
named by its field or feature name and typed as declared) and returns a DataFrame holding the declared
features. The same function runs online, on the rows fetched for one request, and offline, vectorized
over a training set; so it must compute each row from that row alone (no aggregates across rows).

    >>> import polars as pl                                                      # doctest: +SKIP
    >>> transaction = RequestSource(name="transaction", fields=[Feature("amount", "float64")])
    >>> @on_demand_feature_view(                                                 # doctest: +SKIP
    ...     sources=[transaction, driver_stats[["avg_amount_30d"]]],
    ...     features=[Feature("amount_ratio", "float64")],
    ... )
    ... def transaction_ratios(inputs: pl.DataFrame) -> pl.DataFrame:
    ...     return inputs.select((pl.col("amount") / pl.col("avg_amount_30d")).alias("amount_ratio"))

It is registered like a feature view (module-level name in ``definitions/``), requested as
``"transaction_ratios:amount_ratio"``, and usable in feature services. Its version is a hash of its inputs,
outputs and the function's source text, so editing the function is a data change.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import textwrap
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from featurestore.dsl.base import Definition, check_identifier
from featurestore.dsl.feature import Feature
from featurestore.dsl.view import FeatureView, FeatureViewProjection
from featurestore.errors import DefinitionError, UnknownFeatureError, did_you_mean

Udf = Callable[[Any], Any]


class RequestSource(Definition):
    """Typed fields sent with each request (online: ``request_data``; offline: entity-row columns).

    >>> RequestSource(name="trip", fields=[Feature("distance_km", "float64")]).fields[0].name
    'distance_km'

    README: "Serving: HTTP, request-time features, push, feature logging".
    """

    kind_label: ClassVar[str] = "RequestSource"
    kind: Literal["request"] = "request"
    fields: tuple[Feature, ...]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier("request source", value)

    @model_validator(mode="after")
    def _fields(self) -> RequestSource:
        if not self.fields:
            raise ValueError("a request source needs at least one field, e.g. [Feature('amount', 'float64')]")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"fields {names} repeat a name")
        return self


def _source_tag(value: Any) -> str:
    if isinstance(value, RequestSource) or (isinstance(value, dict) and value.get("kind") == "request"):
        return "request"
    return "view"


# Tagged explicitly: definitions raise DefinitionError (not ValidationError) from __init__, so pydantic
# must never try the wrong member of a union.
InputSource = Annotated[
    Annotated[RequestSource, Tag("request")] | Annotated[FeatureViewProjection, Tag("view")],
    Discriminator(_source_tag),
]


class OnDemandFeatureView(Definition):
    """Features computed at request time by ``udf`` from ``sources``. Made with
    :func:`on_demand_feature_view`; ``udf`` is not stored in this object's JSON (its source text is): a
    view read from the registry gets it from where apply recorded it (``registry/code.py``: an installed
    package, or the definitions' sources kept in the registry), checked against ``function_source``.

    >>> import polars as pl
    >>> trip = RequestSource(name="trip", fields=[Feature("distance_km", "float64")])
    >>> @on_demand_feature_view(sources=[trip], features=[Feature("distance_m", "float64")])
    ... def trip_metres(inputs: pl.DataFrame) -> pl.DataFrame:
    ...     return inputs.select(distance_m=pl.col("distance_km") * 1000)
    >>> [field.name for field in trip_metres.request_fields]
    ['distance_km']

    README: "Serving: HTTP, request-time features, push, feature logging" (request-time features).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    kind_label: ClassVar[str] = "OnDemandFeatureView"
    kind: Literal["on_demand"] = "on_demand"
    sources: tuple[InputSource, ...]
    features: tuple[Feature, ...]
    function_name: str
    function_source: str
    udf: Udf | None = Field(default=None, exclude=True, repr=False)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier("on-demand feature view", value, allow_double_underscore=False)

    @field_validator("sources", mode="before")
    @classmethod
    def _project(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError(
                "sources must be a list of request sources, feature views or view[[...]] subsets"
            )
        return [
            FeatureViewProjection(view=s, features=s.feature_names) if isinstance(s, FeatureView) else s
            for s in value
        ]

    @model_validator(mode="after")
    def _consistent(self) -> OnDemandFeatureView:
        if not self.sources:
            raise ValueError("an on-demand feature view needs at least one source")
        if not self.features:
            raise ValueError("an on-demand feature view needs at least one feature")
        outputs = [f.name for f in self.features]
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"features {outputs} repeat a name")
        seen: dict[str, str] = {}
        for name, _, origin in self.inputs:
            if name in seen:
                raise ValueError(
                    f"input {name!r} comes from both {seen[name]} and {origin}; the function sees its inputs "
                    "by name, so request a subset (view[[...]]) that leaves one of them out"
                )
            seen[name] = origin
        clash = sorted(set(outputs) & set(seen))
        if clash:
            raise ValueError(f"features {clash} have the name of an input; rename the output")
        if self.udf is not None:
            _check_signature(self.udf)
        return self

    @property
    def inputs(self) -> list[tuple[str, str, str]]:
        """``(name, dtype, origin)`` of every input column, in source order."""
        out = []
        for source in self.sources:
            if isinstance(source, RequestSource):
                out += [(f.name, f.dtype, f"request source {source.name!r}") for f in source.fields]
            else:
                out += [
                    (f, source.view.feature(f).dtype, f"feature view {source.view.name!r}")
                    for f in source.features
                ]
        return out

    @property
    def request_fields(self) -> list[Feature]:
        return [f for s in self.sources if isinstance(s, RequestSource) for f in s.fields]

    @property
    def view_inputs(self) -> list[FeatureViewProjection]:
        return [s for s in self.sources if isinstance(s, FeatureViewProjection)]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise UnknownFeatureError(
            f"'{self.name}:{name}' is not a feature of on-demand view {self.name!r}{self.where()}. "
            + did_you_mean(name, self.feature_names)
        )

    def __getitem__(self, names: list[str] | tuple[str, ...] | str) -> OnDemandProjection:
        """``view[["a"]]``: a subset of the features, for a feature service."""
        wanted = [names] if isinstance(names, str) else list(names)
        for n in wanted:
            self.feature(n)
        return OnDemandProjection(view=self, features=tuple(wanted))

    def data_fingerprint(self) -> str:
        """A hash of the inputs, the outputs and the function's source: what changes the values."""
        identity = {
            "name": self.name,
            "inputs": [[n, d, o] for n, d, o in self.inputs],
            "features": [[f.name, f.dtype] for f in self.features],
            "function": self.function_source,
        }
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class OnDemandProjection(BaseModel):
    """A subset of an on-demand view's features, made with ``odfv[["a"]]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    view: OnDemandFeatureView
    features: tuple[str, ...]


def _projection_tag(value: Any) -> str:
    if isinstance(value, OnDemandProjection):
        return "on_demand"
    if isinstance(value, dict):
        view = value.get("view")
        kind = view.get("kind") if isinstance(view, dict) else getattr(view, "kind", None)
        return "on_demand" if kind == "on_demand" else "view"
    return "view"


AnyProjection = Annotated[
    Annotated[FeatureViewProjection, Tag("view")] | Annotated[OnDemandProjection, Tag("on_demand")],
    Discriminator(_projection_tag),
]
"""What a feature service lists: a subset of a feature view or of an on-demand view."""


def on_demand_feature_view(
    *,
    sources: Sequence[RequestSource | FeatureView | FeatureViewProjection],
    features: Sequence[Feature],
    name: str | None = None,
    description: str = "",
    owner: str = "",
    tags: dict[str, str] | None = None,
) -> Callable[[Udf], OnDemandFeatureView]:
    """Declare request-time features computed by the decorated function (see the module docstring).

    The decorated name becomes the :class:`OnDemandFeatureView` (named after the function unless
    ``name=`` says otherwise).

    >>> import polars as pl
    >>> trip = RequestSource(name="trip", fields=[Feature("distance_km", "float64")])
    >>> @on_demand_feature_view(sources=[trip], features=[Feature("distance_m", "float64")])
    ... def trip_metres(inputs: pl.DataFrame) -> pl.DataFrame:
    ...     return inputs.select(distance_m=pl.col("distance_km") * 1000)
    >>> trip_metres.name, trip_metres.feature_names
    ('trip_metres', ('distance_m',))

    README: "Serving: HTTP, request-time features, push, feature logging" (request-time features).
    """

    def wrap(func: Udf) -> OnDemandFeatureView:
        if not callable(func):
            raise DefinitionError("@on_demand_feature_view(...) must decorate a function")
        return OnDemandFeatureView(
            name=name or getattr(func, "__name__", "on_demand"),
            sources=list(sources),
            features=list(features),
            function_name=f"{func.__module__}.{getattr(func, '__qualname__', func)}",
            function_source=function_source(func),
            udf=func,
            description=description,
            owner=owner,
            tags=tags or {},
            defined_at=_location(func),
        )

    return wrap


def function_source(func: Udf) -> str:
    """The function's source text (dedented), or a digest of its bytecode when there is no source."""
    try:
        return textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        if code is None:
            return repr(func)
        digest = hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()
        return f"<no source: bytecode {digest}>"


def _location(func: Udf) -> str | None:
    code = getattr(func, "__code__", None)
    if code is None:
        return None
    path = os.path.abspath(code.co_filename)
    rel = os.path.relpath(path)
    return f"{path if rel.startswith('..') else rel}:{code.co_firstlineno}"


def _check_signature(func: Udf) -> None:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) != 1:
        raise ValueError(
            f"the function must take exactly one argument (a polars DataFrame of its inputs), "
            f"it takes {len(required)}: def f(inputs: pl.DataFrame) -> pl.DataFrame"
        )

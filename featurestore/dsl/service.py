"""FeatureService: the named list of features one model consumes."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator, model_validator

from featurestore.display import Table, html_of, text
from featurestore.dsl.base import Definition, check_identifier
from featurestore.dsl.logging_config import FeatureLogging
from featurestore.dsl.on_demand import AnyProjection, OnDemandFeatureView, OnDemandProjection
from featurestore.dsl.view import FeatureView, FeatureViewProjection, metadata_rows


class FeatureService(Definition):
    """Features for one model: whole views, or subsets made with ``view[["a", "b"]]``.

    >>> from datetime import timedelta
    >>> from featurestore.dsl import Entity, Feature, FileSource
    >>> v = FeatureView(name="v", entities=[Entity(name="e", join_keys=["id"])], ttl=None,
    ...                 source=FileSource(name="s", path="s.parquet"), features=[Feature("a", "int64")])
    >>> FeatureService(name="model_v1", features=[v]).feature_refs()
    ['v:a']

    README: "Quickstart".
    """

    kind_label: ClassVar[str] = "FeatureService"
    features: tuple[AnyProjection, ...]
    logging: FeatureLogging | None = None
    """Log what this service serves (see ``FeatureLogging``); None: no logging."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier("feature service", value)

    @field_validator("features", mode="before")
    @classmethod
    def _project(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError("features must be a list of feature views or view[[...]] subsets")
        out: list[Any] = []
        for item in value:
            if isinstance(item, FeatureView):
                out.append(FeatureViewProjection(view=item, features=item.feature_names))
            elif isinstance(item, OnDemandFeatureView):
                out.append(OnDemandProjection(view=item, features=item.feature_names))
            else:
                out.append(item)
        return out

    @model_validator(mode="after")
    def _not_empty(self) -> FeatureService:
        if not self.features:
            raise ValueError("a feature service needs at least one feature view")
        return self

    def feature_refs(self) -> list[str]:
        """The ``view:feature`` references this service stands for, in order."""
        return [f"{p.view.name}:{f}" for p in self.features for f in p.features]

    def _tables(self) -> list[Table]:
        views = list(dict.fromkeys(p.view.name for p in self.features))
        rows = [("views", ", ".join(views)), ("features", str(len(self.feature_refs())))]
        if self.logging is not None:
            where = f" to {self.logging.path}" if self.logging.path else ""
            rows.append(("logging", f"{self.logging.sample_rate:.0%} of requests{where}"))
        rows.extend(metadata_rows(self))
        features = []
        for p in self.features:
            on_demand = isinstance(p, OnDemandProjection)
            for f in p.features:
                features.append(
                    (p.view.name, f, p.view.feature(f).dtype + (" (on demand)" if on_demand else ""))
                )
        return [
            Table(f"FeatureService {self.name}", ("property", "value"), tuple(rows)),
            Table("", ("view", "feature", "dtype"), tuple(features)),
        ]

    def __repr__(self) -> str:
        """Name, views, and a table of the features (view, feature, dtype)."""
        return text(self._tables())

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return html_of(self._tables())

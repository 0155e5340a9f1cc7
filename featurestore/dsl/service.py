"""FeatureService: the named list of features one model consumes."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator, model_validator

from featurestore.dsl.base import Definition, check_identifier
from featurestore.dsl.logging_config import FeatureLogging
from featurestore.dsl.on_demand import AnyProjection, OnDemandFeatureView, OnDemandProjection
from featurestore.dsl.view import FeatureView, FeatureViewProjection


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

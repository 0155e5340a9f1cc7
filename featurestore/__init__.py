"""featurestore: point-in-time-correct training sets on DuckDB and sub-millisecond online features.

>>> from featurestore import Entity, FileSource, FeatureView, Feature, FeatureService, FeatureStore
>>> from featurestore import Aggregation
>>> from featurestore import AllowedValues, Between, Freshness, MaxDrift, NotNull, RowCount
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featurestore.dsl import (
    Aggregation,
    AllowedValues,
    Between,
    Entity,
    Feature,
    FeatureLogging,
    FeatureService,
    FeatureView,
    FileSource,
    Freshness,
    MaxDrift,
    NotNull,
    OnDemandFeatureView,
    RequestSource,
    RowCount,
    SparkSource,
    SqlSource,
    on_demand_feature_view,
)

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "AllowedValues",
    "Between",
    "Entity",
    "Feature",
    "FeatureLogging",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "FileSource",
    "Freshness",
    "MaxDrift",
    "NotNull",
    "OnDemandFeatureView",
    "RequestSource",
    "RowCount",
    "SparkSource",
    "SqlSource",
    "on_demand_feature_view",
]


def __getattr__(name: str) -> Any:
    # FeatureStore pulls in the engines; keep `import featurestore` (and the CLI's --help) light.
    if name == "FeatureStore":
        from featurestore.store import FeatureStore

        return FeatureStore
    raise AttributeError(f"module 'featurestore' has no attribute {name!r}")

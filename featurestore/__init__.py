"""featurestore: point-in-time-correct training sets on DuckDB and sub-millisecond online features.

>>> from featurestore import Entity, FileSource, FeatureView, Feature, FeatureService, FeatureStore
>>> from featurestore import Aggregation
>>> from featurestore import AllowedValues, Between, Freshness, MaxDrift, NotNull, RowCount
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    # Imported on first use: the definitions pull in pydantic and sqlglot, FeatureStore the engines;
    # `import featurestore` (and the CLI's --version and --help) stays light.
    if name == "FeatureStore":
        from featurestore.store import FeatureStore

        return FeatureStore
    if name in __all__:
        import featurestore.dsl

        return getattr(featurestore.dsl, name)
    raise AttributeError(f"module 'featurestore' has no attribute {name!r}")

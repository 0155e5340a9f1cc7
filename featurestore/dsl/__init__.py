"""The definition language: Entity, sources, Feature, Aggregation, FeatureView, FeatureService.

Frozen, validated pydantic models with no I/O. They may import only ``featurestore.errors``.
To add a definition kind: a new frozen model deriving from ``Definition``, exported here and from
``featurestore/__init__.py``, and taught to the registry loader (``registry/loader.py``).
"""

from featurestore.dsl.aggregation import Aggregation
from featurestore.dsl.base import Definition
from featurestore.dsl.checks import AllowedValues, Between, Freshness, MaxDrift, NotNull, RowCount
from featurestore.dsl.dtypes import DTYPES, DType
from featurestore.dsl.entity import Entity
from featurestore.dsl.feature import Feature
from featurestore.dsl.logging_config import FeatureLogging
from featurestore.dsl.on_demand import (
    OnDemandFeatureView,
    OnDemandProjection,
    RequestSource,
    on_demand_feature_view,
)
from featurestore.dsl.service import FeatureService
from featurestore.dsl.source import FileSource, Source, SparkSource, SqlSource
from featurestore.dsl.view import FeatureView, FeatureViewProjection

__all__ = [
    "DTYPES",
    "Aggregation",
    "AllowedValues",
    "Between",
    "DType",
    "Definition",
    "Entity",
    "Feature",
    "FeatureLogging",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "FileSource",
    "Freshness",
    "MaxDrift",
    "NotNull",
    "OnDemandFeatureView",
    "OnDemandProjection",
    "RequestSource",
    "RowCount",
    "Source",
    "SparkSource",
    "SqlSource",
    "on_demand_feature_view",
]

"""FeatureLogging: whether (and how much of) what a feature service serves is logged for replay."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from featurestore.dsl.base import ModelType


class FeatureLogging(BaseModel, metaclass=ModelType):
    """Log served feature vectors of a feature service to Parquet.

    ``sample_rate`` is the share of requests logged (1.0: all); ``path`` the folder (relative to the repo
    root; default ``.featurestore/feature_log``). Each logged row holds the entity keys, the request time,
    the request data and every served value with its status, so ``featurestore verify --from-log``
    can recompute it offline.

    >>> FeatureLogging(sample_rate=0.1).sample_rate
    0.1

    README: "Serving: HTTP, request-time features, push, feature logging".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sample_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    path: str | None = None

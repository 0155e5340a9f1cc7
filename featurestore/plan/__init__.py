"""Plans: what a request will do, as frozen dataclasses. No SQL text, no connections.

``build.py`` turns a request into a naive plan; ``passes.py`` refines it (time range, column pruning);
``explain.py`` prints it. Renderers in ``featurestore.sql`` read the same plan.
To add a node: a frozen dataclass in ``nodes.py``, a builder, and a case in every renderer.
"""

from featurestore.plan.build import plan_latest, plan_training_set
from featurestore.plan.explain import explain
from featurestore.plan.nodes import (
    EntityRows,
    FeatureColumn,
    LatestPerKey,
    PointInTimeJoin,
    SourceScan,
    TrainingSetPlan,
)

__all__ = [
    "EntityRows",
    "FeatureColumn",
    "LatestPerKey",
    "PointInTimeJoin",
    "SourceScan",
    "TrainingSetPlan",
    "explain",
    "plan_latest",
    "plan_training_set",
]

"""Driver features, refreshed hourly from the trips pipeline."""

from datetime import timedelta

from definitions.entities import driver
from featurestore import Between, Feature, FeatureView, FileSource, Freshness, NotNull

driver_hourly_source = FileSource(
    name="driver_hourly_source",
    path="data/driver_hourly_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_field="created",
)

driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    source=driver_hourly_source,
    ttl=timedelta(days=2),
    features=[
        Feature(
            "conv_rate",
            "float64",
            description="Share of offers the driver converted",
            checks=[Between(0, 1), NotNull(max_fraction=0.01)],
        ),
        Feature(
            "acc_rate", "float64", description="Share of offers the driver accepted", checks=[Between(0, 1)]
        ),
        Feature("avg_daily_trips", "int64", checks=[Between(min=0)]),
    ],
    # The trips pipeline runs hourly: a newest event older than 3 hours means it stalled.
    checks=[Freshness(max_age=timedelta(hours=3), severity="warn")],
    owner="marketplace@rides.example",
    tags={"team": "marketplace"},
)

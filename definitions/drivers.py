"""Driver features, refreshed hourly from the trips pipeline."""

from datetime import timedelta

from definitions.entities import driver
from featurestore import Feature, FeatureView, FileSource

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
        Feature("conv_rate", "float64", description="Share of offers the driver converted"),
        Feature("acc_rate", "float64", description="Share of offers the driver accepted"),
        Feature("avg_daily_trips", "int64"),
    ],
    owner="marketplace@rides.example",
    tags={"team": "marketplace"},
)

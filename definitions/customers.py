"""Customer profile features (daily snapshots) and driver-customer pair features."""

from datetime import timedelta

from definitions.entities import customer, driver
from featurestore import AllowedValues, Between, Feature, FeatureView, FileSource, SqlSource

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    source=FileSource(
        name="customer_profile_source",
        path="data/customer_profile",  # a hive-partitioned folder: day=YYYY-MM-DD/part.parquet
        hive_partitioning=True,
        timestamp_field="event_timestamp",
        created_timestamp_field="created",
    ),
    ttl=timedelta(days=30),
    features=[
        # A negative balance is possible (refunds owed) but worth a look: a warning, not a stop.
        Feature("current_balance", "float64", checks=[Between(min=0, severity="warn")]),
        Feature("avg_passenger_count", "float64", checks=[Between(1, 8)]),
        Feature("lifetime_trip_count", "int64"),
        Feature("tier", "string", checks=[AllowedValues(["bronze", "silver", "gold"], severity="warn")]),
    ],
    owner="growth@rides.example",
)

# A composite key: one row per (driver, customer) pair, from a CSV export read through SQL.
driver_customer_stats = FeatureView(
    name="driver_customer_stats",
    entities=[driver, customer],
    source=SqlSource(
        name="driver_customer_source",
        query="""
            SELECT driver_id, customer_id, event_timestamp, trips_together, avg_rating_given
            FROM read_csv('data/driver_customer_stats.csv', timestampformat = '%Y-%m-%dT%H:%M:%S')
        """,
        timestamp_field="event_timestamp",
    ),
    ttl=None,  # pair history never expires
    features=[Feature("trips_together", "int64"), Feature("avg_rating_given", "float64")],
)

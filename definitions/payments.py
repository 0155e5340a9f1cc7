"""Customer payments: an event log (one row per ride payment), aggregated over sliding windows."""

from datetime import timedelta

from definitions.customers import customer_profile
from definitions.entities import customer
from featurestore import Aggregation, FeatureService, FeatureView, FileSource

HOUR, DAY = timedelta(hours=1), timedelta(days=1)

customer_payments = FeatureView(
    name="customer_payments",
    entities=[customer],
    source=FileSource(
        name="customer_payments_source",
        path="data/customer_payments.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_field="created",
    ),
    # For a row at t, each aggregate covers the payments in (t - window, t]; no ttl: nothing expires.
    aggregations=[
        Aggregation("amount", "count", HOUR),
        Aggregation("amount", "sum", HOUR),
        Aggregation("amount", "count", DAY),
        Aggregation("amount", "sum", DAY),
        Aggregation("amount", "mean", 7 * DAY),
        Aggregation("amount", "max", 7 * DAY),
        Aggregation("amount", "sum", 30 * DAY),
        Aggregation("amount", "stddev", 30 * DAY),
        Aggregation("driver_id", "count_distinct", 30 * DAY, name="distinct_drivers_30d"),
        Aggregation("amount", "last", None, name="last_amount"),
        Aggregation("event_timestamp", "count", None, name="lifetime_payments"),
    ],
    owner="risk@rides.example",
    description="Spending per customer over the last hour, day, week and month",
)

# The fraud model's features: the customer's tier and spending in sliding windows.
payment_risk_v1 = FeatureService(
    name="payment_risk_v1",
    features=[
        customer_profile[["tier"]],
        customer_payments[["amount_count_1h", "amount_sum_1d", "amount_mean_7d", "amount_sum_30d"]],
        customer_payments[["distinct_drivers_30d", "lifetime_payments"]],
    ],
    description="Scores a ride payment for fraud: the customer's spending in sliding windows",
)

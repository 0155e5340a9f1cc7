"""Feature services: the features each model consumes."""

from definitions.customers import customer_profile, driver_customer_stats
from definitions.drivers import driver_hourly_stats
from featurestore import FeatureService

driver_ranking_v1 = FeatureService(
    name="driver_ranking_v1",
    features=[
        driver_hourly_stats[["conv_rate", "acc_rate"]],
        customer_profile[["current_balance", "tier"]],
        driver_customer_stats,
    ],
    description="Ranks candidate drivers for a ride request",
)

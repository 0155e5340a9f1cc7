"""Who the features describe: drivers and customers of a ride-hailing service."""

from featurestore import Entity

driver = Entity(name="driver", join_keys=["driver_id"], description="A driver on the platform")
customer = Entity(name="customer", join_keys=["customer_id"], description="A rider")

"""The statistics of what was served, from the feature log: the current side of drift."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from featurestore import FeatureStore
from featurestore.errors import FeatureStoreError
from featurestore.feature_logging import FeatureLogger
from tests.server.conftest import Served

ENTITIES = {"driver_id": [1001, 1002, 1003], "customer_id": [5001, 5002, 5003]}
REQUEST = {"quoted_fare": [10.0, 22.5, 7.0], "distance_km": [2.0, 9.0, 1.0]}


def test_served_values_are_profiled_by_request_time(serving_repo: Served) -> None:
    with FeatureStore(serving_repo.root) as store:
        response = store.get_online_features("ranking_logged", ENTITIES, request_data=REQUEST)
        served = {"features": list(response.statuses()), "values": response.to_dict(),
                  "statuses": response.statuses()}  # fmt: skip
        rates = response.to_dict()["conv_rate"]
        early, late = time.time() - 3600, time.time()
        logger = FeatureLogger(store)
        logger.start()
        logger.log("ranking_logged", ENTITIES, REQUEST, served, early)
        logger.log("ranking_logged", ENTITIES, REQUEST, served, late)
        logger.close()

        everything = store.served_profile("ranking_logged")
        assert everything.rows == 6
        assert "driver_hourly_stats__conv_rate" in everything
        conv = everything["driver_hourly_stats__conv_rate"]
        present = [r for r in rates if r is not None]
        assert conv.count == 6
        assert conv.nulls == 2 * (len(rates) - len(present))
        assert (conv.minimum, conv.maximum) == (min(present), max(present))

        middle = datetime.fromtimestamp(early + 60, UTC)
        recent = store.served_profile("ranking_logged", start=middle, view="driver_hourly_stats")
        assert recent.rows == 3
        assert set(recent) == {"conv_rate", "acc_rate"}  # what the service takes of the view
        assert recent["conv_rate"].mean == pytest.approx(conv.mean)

        with pytest.raises(FeatureStoreError, match="does not log what it serves"):
            store.served_profile("driver_ranking_v1")

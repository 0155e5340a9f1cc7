"""/metrics reports each feature's null share and drift in its view's newest materialization run."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore import FeatureStore
from tests.server.conftest import Served, assert_clean_exit, start_server
from tests.server.test_observability import scrape, value


def test_null_shares_and_drift_of_the_newest_run_are_gauges(serving_repo: Served, tmp_path: Path) -> None:
    with FeatureStore(serving_repo.root) as store:
        store.materialize(end=serving_repo.at)  # a second run of the same rows: no drift
        profiles = store.stats("driver_hourly_stats")
        newest = store.runs("driver_hourly_stats", 1)[0]
    assert newest.run == profiles.run
    running = start_server(serving_repo.root, tmp_path)
    try:
        metrics = scrape(running)
    finally:
        assert_clean_exit(running)
    view = "driver_hourly_stats"
    for feature, profile in profiles.items():
        share = value(metrics, "featurestore_feature_null_fraction", view=view, feature=feature)
        assert share == pytest.approx(profile.null_fraction, abs=1e-6)
    conv = {"view": view, "feature": "conv_rate"}
    assert ("featurestore_feature_drift", frozenset({**conv, "metric": "psi"}.items())) in metrics
    assert value(metrics, "featurestore_feature_drift", **conv, metric="psi") == pytest.approx(0.0, abs=1e-9)
    assert value(metrics, "featurestore_feature_drift", **conv, metric="ks") == pytest.approx(0.0, abs=1e-9)
    assert ("featurestore_feature_drift_exceeded", frozenset(conv.items())) in metrics
    assert value(metrics, "featurestore_feature_drift_exceeded", **conv) == 0

"""Request-time (on-demand) features: definitions, and the same values online and offline."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from featurestore import Entity, Feature, FeatureService, FeatureStore, FeatureView, FileSource
from featurestore.dsl import RequestSource, on_demand_feature_view
from featurestore.errors import (
    DefinitionError,
    EntityRowsError,
    OnDemandFeatureError,
    UnknownFeatureError,
)
from tests.server.conftest import Served

DRIVERS = [*range(1001, 1031), 424242]  # every driver, and one that has no data
ODFV = ["ride_value:fare_per_km", "ride_value:expected_value", "ride_value:busy", "ride_value:trips_bucket"]


def _request(n: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(3)
    fares = np.round(rng.uniform(3, 80, n), 2).tolist()
    distances = np.round(rng.uniform(0.5, 25, n), 3).tolist()
    if n > 1:
        distances[1] = 0.0  # a division by zero: inf on both sides
    return {"quoted_fare": fares, "distance_km": distances}


def test_online_and_offline_give_identical_values(serving_repo: Served) -> None:
    n = len(DRIVERS)
    customers = [5001 + i for i in range(n)]
    request = _request(n)
    with FeatureStore(serving_repo.root) as store:
        online = store.get_online_features(
            "ranking_logged",
            {"driver_id": DRIVERS, "customer_id": customers},
            request_data=request,
            now=serving_repo.at,
        )
        entity_rows = pl.DataFrame(
            {
                "driver_id": DRIVERS,
                "customer_id": customers,
                "event_timestamp": [serving_repo.at] * n,
                **request,
            }
        )
        offline = store.get_training_set(entity_rows, "ranking_logged").to_arrow()
    served = online.to_dict()
    names = ["conv_rate", "acc_rate", "tier", "fare_per_km", "expected_value", "busy", "trips_bucket"]
    assert offline.column_names == [*entity_rows.columns, *names]
    for name in names:
        assert served[name] == offline.column(name).to_pylist(), name
    assert math.isinf(served["fare_per_km"][1])
    assert served["expected_value"][0] == request["quoted_fare"][0] * served["conv_rate"][0]
    # an entity without data: its inputs are null, so are the function's outputs, and the status says why
    assert served["expected_value"][-1] is None
    assert online.statuses()["expected_value"][-1] == "NOT_FOUND"
    assert online.statuses()["fare_per_km"][0] == "PRESENT"
    assert online.to_arrow().column("busy").type == pa.bool_()
    assert offline.column("trips_bucket").type == pa.string()


def test_full_names_and_a_subset_in_a_feature_list(serving_repo: Served) -> None:
    with FeatureStore(serving_repo.root) as store:
        online = store.get_online_features(
            ["ride_value:fare_per_km", "driver_hourly_stats:acc_rate"],
            {"driver_id": [1001]},
            request_data={"quoted_fare": [10.0], "distance_km": [4]},
            full_feature_names=True,
        )
    assert list(online.to_dict()) == ["driver_id", "ride_value__fare_per_km", "driver_hourly_stats__acc_rate"]
    assert online.to_dict()["ride_value__fare_per_km"] == [2.5]


def test_missing_or_mistyped_request_data(serving_repo: Served) -> None:
    with FeatureStore(serving_repo.root) as store:
        with pytest.raises(EntityRowsError, match="request field 'quoted_fare'"):
            store.get_online_features(ODFV, {"driver_id": [1001]})
        with pytest.raises(EntityRowsError, match="expects float64"):
            store.get_online_features(
                ODFV, {"driver_id": [1001]}, request_data={"quoted_fare": ["x"], "distance_km": [1.0]}
            )
        rows = pl.DataFrame({"driver_id": [1001], "event_timestamp": [serving_repo.at], "quoted_fare": [1.0]})
        with pytest.raises(EntityRowsError, match="distance_km"):
            store.get_training_set(rows, ODFV)


BROKEN = """
import polars as pl

from definitions.drivers import driver_hourly_stats
from featurestore import Feature, RequestSource, on_demand_feature_view

trip = RequestSource(name="trip", fields=[Feature("amount", "float64")])


@on_demand_feature_view(
    sources=[trip, driver_hourly_stats[["conv_rate"]]], features=[Feature("boom", "float64")]
)
def exploding(inputs: pl.DataFrame) -> pl.DataFrame:
    raise ValueError("bad input")


@on_demand_feature_view(sources=[trip], features=[Feature("scaled", "float64")])
def misnamed(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select((pl.col("amount") * 2).alias("scaled_wrong"))
"""


def test_errors_in_the_function_name_the_feature_view(serving_repo: Served) -> None:
    (serving_repo.root / "definitions" / "broken.py").write_text(BROKEN)
    with FeatureStore(serving_repo.root) as store:
        store.apply()
        with pytest.raises(
            OnDemandFeatureError,
            match=r"'exploding' \(\S*broken.py:\d+\), computing 'exploding:boom', raised ValueError",
        ):
            store.get_online_features(
                ["exploding:boom"], {"driver_id": [1001]}, request_data={"amount": [1.0]}
            )
        rows = pl.DataFrame({"driver_id": [1001], "event_timestamp": [serving_repo.at], "amount": [1.0]})
        with pytest.raises(OnDemandFeatureError, match=r"exploding.*bad input"):
            store.get_training_set(rows, ["exploding:boom"]).to_arrow()
        with pytest.raises(OnDemandFeatureError, match=r"'misnamed'.*returned no column 'scaled'"):
            store.get_online_features(["misnamed:scaled"], {"driver_id": [1]}, request_data={"amount": [1.0]})


def test_editing_the_function_is_a_data_change_and_must_be_applied(serving_repo: Served) -> None:
    """The applied function (recorded in the registry) serves until the edited one is applied."""
    path = serving_repo.root / "definitions" / "serving.py"
    path.write_text(path.read_text().replace('alias("fare_per_km")', 'alias("fare_per_km") * 2'))
    request = {"quoted_fare": [9.0], "distance_km": [3.0]}
    with FeatureStore(serving_repo.root) as store:
        changes = [c for c in store.plan().changes if c.name == "ride_value"]
        assert [c.kind for c in changes] == ["data"]
        before = store.get_online_features(ODFV, {"driver_id": [1001]}, request_data=request)
        store.apply()
        after = store.get_online_features(ODFV, {"driver_id": [1001]}, request_data=request)
    assert before.to_dict()["fare_per_km"] == [3.0]
    assert after.to_dict()["fare_per_km"] == [6.0]


def _view() -> FeatureView:
    return FeatureView(
        name="stats",
        entities=[Entity(name="d", join_keys=["driver_id"])],
        source=FileSource(name="s", path="s.parquet"),
        ttl=timedelta(days=1),
        features=[Feature("avg_amount", "float64"), Feature("n", "int64")],
    )


def test_definition_checks() -> None:
    view = _view()
    tx = RequestSource(name="tx", fields=[Feature("amount", "float64")])

    @on_demand_feature_view(sources=[tx, view[["avg_amount"]]], features=[Feature("ratio", "float64")])
    def ratio(inputs: pl.DataFrame) -> pl.DataFrame:
        return inputs.select((pl.col("amount") / pl.col("avg_amount")).alias("ratio"))

    assert ratio.name == "ratio"
    assert [i[0] for i in ratio.inputs] == ["amount", "avg_amount"]
    assert FeatureService(name="m", features=[view, ratio[["ratio"]]]).feature_refs()[-1] == "ratio:ratio"
    with pytest.raises(DefinitionError, match="comes from both"):
        on_demand_feature_view(
            sources=[RequestSource(name="r", fields=[Feature("n", "int64")]), view],
            features=[Feature("x", "int64")],
            name="x",
        )(lambda inputs: inputs)
    with pytest.raises(DefinitionError, match="name of an input"):
        on_demand_feature_view(sources=[tx], features=[Feature("amount", "float64")], name="x")(
            lambda inputs: inputs
        )
    with pytest.raises(DefinitionError, match="exactly one argument"):
        on_demand_feature_view(sources=[tx], features=[Feature("y", "float64")], name="y")(lambda a, b: a)
    with pytest.raises(UnknownFeatureError, match="is not a feature"):
        ratio[["nope"]]


def test_cli_lists_and_describes_on_demand_views(serving_repo: Served) -> None:
    from click.testing import CliRunner

    from featurestore.cli import cli

    root = str(serving_repo.root)
    listed = CliRunner().invoke(cli, ["--repo", root, "list", "on-demand"])
    assert listed.exit_code == 0, listed.output
    assert "ride_value" in listed.stdout
    assert "quoted_fare" in listed.stdout
    described = CliRunner().invoke(cli, ["--repo", root, "describe", "ride_value"])
    assert described.exit_code == 0, described.output
    assert '"kind": "on-demand feature view"' in described.stdout
    assert "def ride_value" in described.stdout

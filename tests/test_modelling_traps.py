"""Definitions and requests that are accepted but surprise later, caught early on hand-checked data.

``delays`` serves two views of flights that both have ``dep_delay_mean_1h``: reading it without full
feature names fails, so ``plan`` and ``apply`` warn, and the read-time error names the flag of the
surface in use. ``as_known_at=True`` over sources without a created timestamp changes nothing, and
says so.

Rows (``T`` = 2024-01-01 12:00 UTC), flight 1 only:

==========  ====================  ===================  ===========
view        ts                    dep_delay_mean_1h    other
==========  ====================  ===================  ===========
by_origin   T - 10 min            4.5                  n_origin 3
by_carrier  T - 20 min            7.25                 n_carrier 8
==========  ====================  ===================  ===========
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.errors import AsKnownAtIgnoredWarning, FeatureNameCollisionError
from tests.pit_repo import make_repo, naive, rows
from tests.server.conftest import assert_clean_exit, start_server

T = naive(2024, 1, 1, 12)
MIN = timedelta(minutes=1)

DEFS = """
flight = Entity(name="flight", join_keys=["flight_id"])
origin_src = FileSource(name="origin_src", path="data/origin.parquet", timestamp_field="ts")
carrier_src = FileSource(name="carrier_src", path="data/carrier.parquet", timestamp_field="ts")
by_origin = FeatureView(
    name="by_origin", entities=[flight], ttl=None, source=origin_src,
    features=[Feature("dep_delay_mean_1h", "float64"), Feature("n_origin", "int64")],
)
by_carrier = FeatureView(
    name="by_carrier", entities=[flight], ttl=None, source=carrier_src,
    features=[Feature("dep_delay_mean_1h", "float64"), Feature("n_carrier", "int64")],
)
delays = FeatureService(name="delays", features=[by_origin, by_carrier])
"""

DATA = {
    "data/origin.parquet": {
        "flight_id": [1],
        "ts": [T - 10 * MIN],
        "dep_delay_mean_1h": [4.5],
        "n_origin": [3],
    },
    "data/carrier.parquet": {
        "flight_id": [1],
        "ts": [T - 20 * MIN],
        "dep_delay_mean_1h": [7.25],
        "n_carrier": [8],
    },
}

WARNING = re.compile(
    r"feature service 'delays' \(.*defs\.py:\d+\) has feature 'dep_delay_mean_1h' in views 'by_origin' "
    r"and 'by_carrier': reading it fails unless columns are named 'view__feature'\. Read it with "
    r"full_feature_names=True \(CLI: --full-feature-names, HTTP: \"full_feature_names\": true\), or rename "
    r"the feature in all but one view, or leave it out of the service with view\[\[\.\.\.\]\]\."
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    make_repo(root, DEFS, DATA, apply=False)
    return root


def cli_run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--repo", str(root), *args])
    return result.exit_code, result.stdout, result.stderr


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_plan_and_apply_warn_about_a_service_whose_views_share_a_feature_name(repo: Path) -> None:
    store = FeatureStore(repo)
    planned = store.plan()
    assert len(planned.warnings) == 1
    assert WARNING.fullmatch(planned.warnings[0]), planned.warnings[0]
    applied = store.apply()
    assert list(applied.warnings) == list(planned.warnings)
    # Still said on a later plan with no change: the trap is in the definitions, not in the change.
    assert list(store.plan().warnings) == list(planned.warnings)

    code, out, _ = cli_run(repo, "plan")
    assert code == 0
    assert WARNING.search(one_line(out)), out
    code, out, err = cli_run(repo, "plan", "--json")
    assert code == 0
    assert WARNING.search(one_line(err)), err


def test_a_service_whose_feature_names_differ_is_not_warned_about(tmp_path: Path) -> None:
    defs = DEFS.replace(
        'FeatureService(name="delays", features=[by_origin, by_carrier])',
        "FeatureService(name=\"delays\", features=[by_origin, by_carrier[['n_carrier']]])",
    )
    store = make_repo(tmp_path / "repo", defs, DATA, apply=False)
    assert store.plan().warnings == ()


def test_the_read_time_collision_names_the_flag_of_each_surface(repo: Path, tmp_path: Path) -> None:
    store = FeatureStore(repo)
    store.apply()
    entity = pa.table({"flight_id": [1], "event_timestamp": [T]})
    sdk = r"output column 'dep_delay_mean_1h' from by_carrier:dep_delay_mean_1h collides with " + (
        r"by_origin:dep_delay_mean_1h\. Pass full_feature_names=True"
    )
    with pytest.raises(FeatureNameCollisionError, match=sdk):
        store.get_training_set(entity, "delays")
    with pytest.raises(FeatureNameCollisionError, match=sdk):
        store.get_online_features("delays", [{"flight_id": 1}])
    ts = store.get_training_set(entity, "delays", full_feature_names=True)
    assert rows(ts.to_arrow(), "by_origin__dep_delay_mean_1h", "by_carrier__dep_delay_mean_1h") == [
        (4.5, 7.25)
    ]

    code, _, err = cli_run(repo, "get-online", "--features", "delays", "--entity", "flight_id=1")
    assert code == 1
    line = one_line(err)
    assert line.startswith("error: FeatureNameCollisionError: output column 'dep_delay_mean_1h'"), err
    assert "Pass --full-feature-names to name columns 'view__feature'" in line
    assert "full_feature_names=True" not in line
    code, out, err = cli_run(
        repo, "get-online", "--features", "delays", "--entity", "flight_id=1", "--full-feature-names"
    )
    assert code == 0, err
    assert "by_origin__dep_delay_mean_1h" in out
    assert "by_carrier__dep_delay_mean_1h" in out

    server = start_server(repo, tmp_path)
    try:
        status, body, _ = server.request(
            "POST", "/online-features", {"feature_service": "delays", "entities": {"flight_id": [1]}}
        )
    finally:
        assert_clean_exit(server)
    assert status == 422
    assert body["error"]["type"] == "FeatureNameCollisionError"
    message = body["error"]["message"]
    assert 'Pass "full_feature_names": true to name columns' in message, message
    assert "full_feature_names=True" not in message


def test_as_known_at_without_created_timestamps_warns_naming_the_views(repo: Path) -> None:
    store = FeatureStore(repo)
    store.apply()
    entity = pa.table({"flight_id": [1], "event_timestamp": [T]})
    expected = (
        "as_known_at=True changes nothing: no requested view's source has a created timestamp "
        "(view 'by_origin': source 'origin_src', view 'by_carrier': source 'carrier_src'), so every row is "
        "known from its event time. Give the source a created timestamp column "
        "(created_timestamp_field=...), or drop as_known_at."
    )
    with pytest.warns(AsKnownAtIgnoredWarning) as caught:
        ts = store.get_training_set(entity, ["by_origin:n_origin", "by_carrier:n_carrier"], as_known_at=True)
    assert [str(w.message) for w in caught] == [expected]
    assert caught[0].filename == __file__  # points at the caller's line
    assert rows(ts.to_arrow(), "n_origin", "n_carrier") == [(3, 8)]  # the same values as without it

    entities = repo / "entities.parquet"
    import pyarrow.parquet as pq

    pq.write_table(entity, entities)
    code, out, err = cli_run(
        repo, "training-set", "--entities", str(entities), "--features", "by_origin:n_origin", "--as-known-at"
    )
    assert code == 0, err
    assert one_line(err) == (
        "warning: as_known_at=True changes nothing: no requested view's source has a created timestamp "
        "(view 'by_origin': source 'origin_src'), so every row is known from its event time. Give the "
        "source a created timestamp column (created_timestamp_field=...), or drop as_known_at."
    )
    assert "1 row x 3 columns" in out


def test_as_known_at_with_one_created_timestamp_is_not_warned_about(tmp_path: Path) -> None:
    defs = DEFS.replace(
        'path="data/carrier.parquet", timestamp_field="ts"',
        'path="data/carrier.parquet", timestamp_field="ts", created_timestamp_field="created"',
    )
    data = {**DATA, "data/carrier.parquet": {**DATA["data/carrier.parquet"], "created": [T - 20 * MIN]}}
    store = make_repo(tmp_path / "repo", defs, data)
    entity = pa.table({"flight_id": [1], "event_timestamp": [T]})
    ts = store.get_training_set(entity, ["by_origin:n_origin", "by_carrier:n_carrier"], as_known_at=True)
    assert rows(ts.to_arrow(), "n_origin", "n_carrier") == [(3, 8)]

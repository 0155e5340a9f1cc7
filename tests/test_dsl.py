"""Definition objects: validation errors name the object, the file:line and the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from featurestore import Entity, Feature, FeatureService, FeatureView, FileSource, SqlSource
from featurestore.errors import DefinitionError, UnknownFeatureError

driver = Entity(name="driver", join_keys=["driver_id"])
source = FileSource(name="src", path="data/x.parquet", created_timestamp_field="created")


def view(**overrides: object) -> FeatureView:
    args: dict[str, object] = {
        "name": "driver_stats",
        "entities": [driver],
        "source": source,
        "ttl": timedelta(days=1),
        "features": [Feature("conv_rate", "float64"), Feature("trips", "int64")],
    }
    args.update(overrides)
    return FeatureView(**args)  # type: ignore[arg-type]


def test_valid_view_has_keys_features_and_location() -> None:
    v = view()
    assert v.join_keys == ("driver_id",)
    assert v.feature_names == ("conv_rate", "trips")
    assert v.defined_at is not None
    assert v.defined_at.startswith("tests/test_dsl.py:")


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-5)])
def test_non_positive_ttl_is_rejected_with_the_fix(ttl: timedelta) -> None:
    with pytest.raises(
        DefinitionError, match=r"FeatureView 'driver_stats' \(tests/test_dsl.py:\d+\).*ttl=None"
    ):
        view(ttl=ttl)


def test_ttl_none_means_no_limit() -> None:
    assert view(ttl=None).ttl is None


@pytest.mark.parametrize("name", ["driver-stats", "1stats", "driver stats", ""])
def test_view_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(DefinitionError, match="not an identifier"):
        view(name=name)


def test_double_underscore_in_view_name_would_collide_with_full_names() -> None:
    with pytest.raises(DefinitionError, match=r"'__'.*'driver_stats'"):
        view(name="driver__stats")


def test_feature_name_and_dtype_are_checked() -> None:
    with pytest.raises(DefinitionError, match="not an identifier"):
        Feature("conv-rate", "float64")
    with pytest.raises(DefinitionError, match="did you mean 'float64'"):
        Feature("conv_rate", "flaot64")


def test_duplicate_feature_and_key_clash() -> None:
    with pytest.raises(DefinitionError, match="declared more than once"):
        view(features=[Feature("a", "int64"), Feature("a", "int64")])
    with pytest.raises(DefinitionError, match="reuse a join key"):
        view(features=[Feature("driver_id", "int64")])


def test_entity_needs_a_list_of_keys() -> None:
    with pytest.raises(DefinitionError, match=r"\['driver_id'\]"):
        Entity(name="driver", join_keys="driver_id")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="at least one join key"):
        Entity(name="driver", join_keys=[])


def test_projection_checks_feature_names_and_suggests() -> None:
    with pytest.raises(UnknownFeatureError, match="Did you mean 'conv_rate'"):
        view()[["conv_rat"]]
    service = FeatureService(name="m", features=[view()[["trips"]]])
    assert service.feature_refs() == ["driver_stats:trips"]


def test_data_fingerprint_ignores_metadata_but_not_data() -> None:
    base = view()
    assert base.data_fingerprint() == view(description="new words", owner="me").data_fingerprint()
    assert base.metadata_fingerprint() != view(description="new words").metadata_fingerprint()
    assert base.data_fingerprint() != view(ttl=timedelta(days=2)).data_fingerprint()
    assert base.data_fingerprint() != view(features=[Feature("conv_rate", "float32")]).data_fingerprint()


def test_sources_validate() -> None:
    assert FileSource(name="s", path="a.csv").format == "csv"
    with pytest.raises(DefinitionError, match="query is empty"):
        SqlSource(name="s", query="  ;")
    with pytest.raises(DefinitionError, match="both 'ts'"):
        FileSource(name="s", path="a.parquet", timestamp_field="ts", created_timestamp_field="ts")


def test_definitions_round_trip_through_json() -> None:
    v = view()
    assert FeatureView.model_validate_json(v.model_dump_json()) == v
    s = FeatureService(name="m", features=[v])
    assert FeatureService.model_validate_json(s.model_dump_json()) == s

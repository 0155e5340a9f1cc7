"""Validation rules as definitions: accepted, refused with file:line and the fix at apply, stored in the
registry as metadata (they never move a view's online version) and shown by plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurestore import AllowedValues, Between, Feature, Freshness, MaxDrift, NotNull, RowCount
from featurestore.cli import cli
from featurestore.errors import DefinitionError
from featurestore.registry.model import Registry
from tests.pit_repo import make_repo, write_definitions

PRELUDE = "from featurestore import AllowedValues, Between, Freshness, MaxDrift, NotNull, RowCount\n"

VIEW = (
    PRELUDE
    + """
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=3),
    source=FileSource(name="stats_src", path="data/stats.parquet"),{view_checks}
    features=[
        Feature("rate", "float64"{rate_checks}),
        Feature("tier", "string"),
    ],
)
"""
)


def defs(view_checks: str = "", rate_checks: str = "") -> str:
    return VIEW.format(
        view_checks=f"\n    checks=[{view_checks}]," if view_checks else "",
        rate_checks=f", checks=[{rate_checks}]" if rate_checks else "",
    )


DATA = {
    "data/stats.parquet": {
        "driver_id": [1, 2],
        "event_timestamp": [datetime(2026, 1, 1, tzinfo=UTC)] * 2,
        "rate": [0.5, 0.7],
        "tier": ["gold", "silver"],
    }
}


def apply(repo: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--repo", str(repo), "apply"])
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Between(), "give min, max or both"),
        (lambda: Between(2, 1), "min 2 is above max 1; swap them"),
        (lambda: Between(0, float("inf")), "max must be a finite number"),
        (lambda: NotNull(max_fraction=1.0), "max_fraction must be in [0, 1)"),
        (lambda: AllowedValues([]), "at least one allowed value"),
        (lambda: AllowedValues(["a", 1]), "give values of one type"),
        (lambda: MaxDrift(), "at least one threshold"),
        (lambda: MaxDrift(ks=1.5), "ks must be in (0, 1]"),
        (lambda: Freshness(max_age=timedelta(0)), "max_age must be positive"),
        (lambda: RowCount(min=5, max=2), "max 2 is below min 5"),
        (lambda: Feature("a", "int64", checks=[RowCount()]), "put it in FeatureView(..., checks=[...])"),
    ],
)
def test_invalid_checks_are_definition_errors_with_where(make: object, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        make()  # type: ignore[operator]
    assert message in str(caught.value)
    assert "test_definitions.py:" in str(caught.value)


def test_rule_texts() -> None:
    assert [c.text for c in (Between(0, 1), Between(min=0.5), NotNull(max_fraction=0.01))] == [
        "Between(0, 1)",
        "Between(min=0.5)",
        "NotNull(max_fraction=0.01)",
    ]
    assert RowCount().text == "RowCount(min=1)"
    assert MaxDrift(psi=0.2, linf=0.1).text == "MaxDrift(psi=0.2, linf=0.1)"


@pytest.mark.parametrize(
    ("view_checks", "rate_checks", "expected"),
    [
        (
            "",
            "AllowedValues(['a'])",
            "feature 'rate' (float64): AllowedValues(['a']) needs a string, integer or",
        ),
        ("NotNull()", "", "NotNull is not a check of a feature view"),
    ],
)
def test_checks_that_do_not_fit_are_refused_at_apply(
    tmp_path: Path, view_checks: str, rate_checks: str, expected: str
) -> None:
    make_repo(tmp_path, defs(view_checks, rate_checks), DATA, apply=False)
    code, out = apply(tmp_path)
    assert code == 1
    flat = " ".join(out.split())
    assert expected in flat
    assert "'stats'" in flat
    assert "definitions/defs.py:" in flat


def test_a_string_check_on_a_number_feature_names_view_feature_and_line(tmp_path: Path) -> None:
    text = defs().replace(
        'Feature("tier", "string")', 'Feature("tier", "int64", checks=[AllowedValues(["x"])])'
    )
    make_repo(tmp_path, text, DATA, apply=False)
    code, out = apply(tmp_path)
    flat = " ".join(out.split())
    assert code == 1
    assert "FeatureView 'stats' (" in flat
    assert "definitions/defs.py:6) is invalid" in flat
    assert (
        "feature 'tier' (int64): AllowedValues(['x']) lists values that are not int64: give int values"
        in flat
    )


def test_between_on_a_string_feature_is_refused(tmp_path: Path) -> None:
    text = defs().replace('Feature("tier", "string")', 'Feature("tier", "string", checks=[Between(0, 1)])')
    make_repo(tmp_path, text, DATA, apply=False)
    code, out = apply(tmp_path)
    flat = " ".join(out.split())
    assert code == 1
    assert "feature 'tier' (string): Between(0, 1) needs a number feature" in flat


def test_checks_are_metadata_round_trip_and_show_in_plan(tmp_path: Path) -> None:
    store = make_repo(tmp_path, defs(), DATA)
    before = store.registry.views["stats"]
    write_definitions(
        tmp_path,
        defs(
            "Freshness(max_age=timedelta(hours=2)), RowCount(min=1)",
            "Between(0, 1), NotNull(severity='warn')",
        ),
    )
    diff = store.plan()
    assert [(c.kind, c.name) for c in diff.changes] == [("metadata", "stats")]
    detail = diff.changes[0].detail
    assert "checks.rate none -> 'Between(0, 1), NotNull() warn'" in detail
    assert "checks.view none -> 'Freshness(max_age=2h), RowCount(min=1)'" in detail
    store.apply()
    after = store.registry.views["stats"]
    assert after.data_fingerprint == before.data_fingerprint  # the online namespace does not move
    assert after.metadata_fingerprint != before.metadata_fingerprint
    reread = Registry.from_json(store.registry.to_json())
    assert reread.views["stats"].view.checks == (Freshness(max_age=timedelta(hours=2)), RowCount(min=1))
    assert reread.views["stats"].view.feature("rate").checks == (Between(0, 1), NotNull(severity="warn"))
    assert reread == store.registry


def test_a_registry_without_checks_loads_and_keeps_its_fingerprints(tmp_path: Path) -> None:
    store = make_repo(tmp_path, defs(), DATA)
    text = store.registry.to_json()
    stripped = text.replace(',\n      "checks": []', "").replace(',\n    "checks": []', "")
    import json

    def drop(obj: object) -> object:
        if isinstance(obj, dict):
            return {k: drop(v) for k, v in obj.items() if k != "checks"}
        if isinstance(obj, list):
            return [drop(v) for v in obj]
        return obj

    old = json.dumps(drop(json.loads(stripped)))
    assert '"checks"' not in old
    loaded = Registry.from_json(old)
    assert loaded == store.registry
    view = loaded.views["stats"]
    assert view.view.metadata_fingerprint() == view.metadata_fingerprint

"""The look-back warning: an aggregation view whose source has no created timestamp finds late events
only within ``[materialize] lookback`` of the watermark, and ``lookback_warnings`` says so."""

from __future__ import annotations

import doctest
from datetime import datetime, timedelta
from pathlib import Path

import featurestore.plan.window
from featurestore.plan.window import lookback_warnings
from tests.pit_repo import make_repo

DEFS = """
from featurestore import Aggregation
customer = Entity(name="customer", join_keys=["customer_id"])
with_created = FileSource(name="with_created", path="data/ev.parquet", timestamp_field="ts",
                          created_timestamp_field="created")
without = FileSource(name="without", path="data/ev.parquet", timestamp_field="ts")
pay_created = FeatureView(name="pay_created", entities=[customer], source=with_created,
                          aggregations=[Aggregation("amount", "sum", timedelta(days=1))])
pay = FeatureView(
    name="pay", entities=[customer], source=without,
    aggregations=[Aggregation("amount", "sum", timedelta(days=1)), Aggregation("amount", "count", None)],
)
plain = FeatureView(name="plain", entities=[customer], source=without, ttl=None,
                    features=[Feature("amount", "float64")])
"""
EVENTS = {
    "customer_id": [1],
    "ts": [datetime(2024, 1, 1)],
    "created": [datetime(2024, 1, 1)],
    "amount": [1.5],
}


def test_only_aggregation_views_without_a_created_timestamp_are_named(tmp_path: Path) -> None:
    with make_repo(tmp_path, DEFS, {"data/ev.parquet": EVENTS}) as store:
        warnings = lookback_warnings(store.registry, timedelta(hours=2))
    # `pay = FeatureView(` is line 10 of defs.py: 2 prelude lines, then DEFS from its second line.
    where = f"{tmp_path / 'definitions' / 'defs.py'}:10"
    assert warnings == [
        f"feature view 'pay' ({where}) aggregates source 'without', which has no created timestamp: an "
        "incremental materialize re-reads only the 2h before the watermark ([materialize] lookback), so "
        "an event that lands more than 2h late is written online only by the next full materialize. Add "
        "a created timestamp column to the source (created_timestamp_field=...), or run a full "
        "materialize periodically."
    ]


def test_the_docstring_examples_of_the_window_plans_hold() -> None:
    failed, attempted = doctest.testmod(featurestore.plan.window, raise_on_error=False, verbose=False)
    assert attempted >= 3
    assert failed == 0


def test_plan_and_apply_show_the_warning(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from featurestore.cli import cli

    make_repo(tmp_path, DEFS, {"data/ev.parquet": EVENTS}, apply=False).close()
    with make_repo(tmp_path, DEFS, apply=False) as store:
        (warning,) = store.plan().warnings
        assert warning.startswith("feature view 'pay'")
        assert "1h before the watermark" in warning  # the configured default look-back
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "apply"])
    assert result.exit_code == 0, result.output
    assert "warning: feature view 'pay'" in " ".join(result.output.split())

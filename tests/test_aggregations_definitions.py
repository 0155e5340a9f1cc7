"""Declaring aggregations: names, derived features and types, and errors that say what, where and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore import Aggregation, Entity, FeatureService, FeatureView, FileSource
from featurestore.errors import DefinitionError, SchemaMismatchError, UnknownFeatureError
from tests.pit_repo import make_repo, naive, table_of

customer = Entity(name="customer", join_keys=["customer_id"])
source = FileSource(name="tx_src", path="data/tx.parquet", timestamp_field="ts")
DAY = timedelta(days=1)


def view(*aggregations: Aggregation, **overrides: object) -> FeatureView:
    args: dict[str, object] = {"name": "tx", "entities": [customer], "source": source}
    args.update(overrides)
    return FeatureView(aggregations=list(aggregations), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("window", "label"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(days=365), "365d"),
        (timedelta(hours=1), "1h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=30), "30s"),
        (timedelta(milliseconds=1500), "1500ms"),
        (None, "lifetime"),
    ],
)
def test_default_names_are_column_function_window(window: timedelta | None, label: str) -> None:
    assert Aggregation("amount", "sum", window).name == f"amount_sum_{label}"


def test_a_view_derives_one_feature_per_aggregation_in_order() -> None:
    v = view(
        Aggregation("amount", "sum", timedelta(days=7)),
        Aggregation("amount", "count", None, name="n_payments"),
        Aggregation("merchant", "count_distinct", timedelta(hours=1)),
    )
    assert v.feature_names == ("amount_sum_7d", "n_payments", "merchant_count_distinct_1h")
    assert [f.dtype for f in v.features][1:] == ["int64", "int64"]
    assert v.ttl is None
    assert v["n_payments"].features == ("n_payments",)


def test_fixed_output_types_are_known_at_definition() -> None:
    assert [Aggregation("x", f, DAY).dtype for f in ("count", "count_distinct", "mean", "stddev")] == [
        "int64",
        "int64",
        "float64",
        "float64",
    ]
    assert Aggregation("x", "sum", DAY).dtype is None  # settled by apply from the column's type


def test_unknown_function_suggests_the_right_one() -> None:
    with pytest.raises(
        DefinitionError,
        match=r"Aggregation 'amount/avg' \(tests/test_aggregations_definitions.py:\d+\).*did you mean 'mean'",
    ):
        Aggregation("amount", "avg", DAY)
    with pytest.raises(DefinitionError, match="did you mean 'count_distinct'"):
        Aggregation("amount", "count_distinc", DAY)


@pytest.mark.parametrize("window", [timedelta(0), timedelta(seconds=-1)])
def test_a_window_must_be_positive(window: timedelta) -> None:
    with pytest.raises(DefinitionError, match=r"window must be positive.*window=None"):
        Aggregation("amount", "sum", window)


def test_a_ttl_on_an_aggregation_view_is_refused_with_the_fix() -> None:
    with pytest.raises(
        DefinitionError, match=r"FeatureView 'tx' \(tests/test_aggregations_definitions.py:\d+\).*ttl=None"
    ):
        view(Aggregation("amount", "sum", DAY), ttl=timedelta(days=2))
    assert view(Aggregation("amount", "sum", DAY), ttl=None).ttl is None


def test_features_and_aggregations_together_are_refused() -> None:
    from featurestore import Feature

    with pytest.raises(DefinitionError, match="derives its features from them"):
        view(Aggregation("amount", "sum", DAY), features=[Feature("other", "int64")])


def test_two_aggregations_with_one_name_are_refused_with_the_fix() -> None:
    with pytest.raises(DefinitionError, match=r"share a name.*name="):
        view(Aggregation("amount", "sum", DAY), Aggregation("amount", "sum", DAY))
    view(Aggregation("amount", "sum", DAY), Aggregation("amount", "sum", DAY, name="amount_sum_day_copy"))


def test_a_feature_name_clashing_with_a_key_is_refused() -> None:
    with pytest.raises(DefinitionError, match="reuse a join key"):
        view(Aggregation("amount", "count", DAY, name="customer_id"))


def test_unknown_aggregate_in_a_projection_suggests_the_name() -> None:
    v = view(Aggregation("amount", "sum", DAY))
    with pytest.raises(UnknownFeatureError, match="Did you mean 'amount_sum_1d'"):
        FeatureService(name="s", features=[v[["amount_sum_1"]]])


# -- apply: checked against the source ---------------------------------------------------------------

TYPES = {"customer_id": pa.int64(), "ts": pa.timestamp("us"), "amount": pa.float64(), "qty": pa.int32(),
         "merchant": pa.string(), "paid_at": pa.timestamp("us"), "flag": pa.bool_()}  # fmt: skip
DATA = {
    "data/tx.parquet": table_of(
        tuple(TYPES), (1, naive(2024, 1, 1), 1.5, 2, "a", naive(2024, 1, 1), True), types=TYPES
    )
}
PRELUDE = """
from featurestore import Aggregation
customer = Entity(name="customer", join_keys=["customer_id"])
src = FileSource(name="tx_src", path="data/tx.parquet", timestamp_field="ts")
"""


def apply_view(tmp_path: Path, aggregations: str) -> FeatureView:
    text = (
        PRELUDE
        + f"tx = FeatureView(name='tx', entities=[customer], source=src, aggregations=[{aggregations}])\n"
    )
    store = make_repo(tmp_path, text, DATA)
    return store.registry.view("tx").view


def test_apply_settles_output_types_from_the_columns(tmp_path: Path) -> None:
    v = apply_view(
        tmp_path,
        "Aggregation('qty', 'sum', None), Aggregation('amount', 'sum', None),"
        "Aggregation('flag', 'sum', None),"
        "Aggregation('merchant', 'max', None), Aggregation('paid_at', 'last', None),"
        "Aggregation('qty', 'min', None), Aggregation('qty', 'sum', None, name='q', dtype='float64'),"
        "Aggregation('flag', 'last', None), Aggregation('ts', 'count', None)",
    )
    assert [(f.name, f.dtype) for f in v.features] == [
        ("qty_sum_lifetime", "int64"),
        ("amount_sum_lifetime", "float64"),
        ("flag_sum_lifetime", "int64"),
        ("merchant_max_lifetime", "string"),
        ("paid_at_last_lifetime", "timestamp"),
        ("qty_min_lifetime", "int64"),
        ("q", "float64"),
        ("flag_last_lifetime", "bool"),
        ("ts_count_lifetime", "int64"),
    ]


def test_apply_names_a_missing_column_with_the_view_and_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(
        SchemaMismatchError,
        match=r"feature view 'tx' \(.*defs.py:\d+\): aggregation 'amont_sum_1d' reads column 'amont'.*"
        r"Did you mean 'amount'",
    ):
        apply_view(tmp_path, "Aggregation('amont', 'sum', timedelta(days=1))")


@pytest.mark.parametrize(
    ("aggregation", "message"),
    [
        (
            "Aggregation('merchant', 'mean', None)",
            r"mean of column 'merchant', which has type string; mean needs a",
        ),
        ("Aggregation('flag', 'max', None)", r"max of column 'flag', which has type bool"),
        ("Aggregation('ts', 'stddev', None)", r"stddev needs a float or integer column"),
        ("Aggregation('merchant', 'last', None, dtype='int64')", r"pins dtype='int64'.*string"),
    ],
)
def test_apply_refuses_a_function_that_does_not_fit_the_column(
    tmp_path: Path, aggregation: str, message: str
) -> None:
    with pytest.raises(SchemaMismatchError, match=message):
        apply_view(tmp_path, aggregation)


def test_a_window_change_is_a_data_change_a_description_is_metadata(tmp_path: Path) -> None:
    text = "tx = FeatureView(name='tx', entities=[customer], source=src, aggregations=[{}])\n"
    store = make_repo(
        tmp_path, PRELUDE + text.format("Aggregation('amount', 'sum', timedelta(days=1), name='s')"), DATA
    )
    fingerprint = store.registry.view("tx").data_fingerprint
    defs = tmp_path / "definitions" / "defs.py"
    defs.write_text(defs.read_text().replace("name='s')", "name='s', description='money')"))
    assert [(c.kind, c.name) for c in store.plan().changes] == [("metadata", "tx")]
    store.apply()
    assert store.registry.view("tx").data_fingerprint == fingerprint
    defs.write_text(defs.read_text().replace("timedelta(days=1)", "timedelta(days=2)"))
    assert [(c.kind, c.name) for c in store.plan().changes] == [("data", "tx")]

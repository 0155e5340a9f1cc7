"""What a notebook and a terminal show: text and HTML reprs of diffs, online responses, views and
services (training sets: tests/test_preview.py), and online results in pandas."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest

from featurestore import Aggregation, Entity, Feature, FeatureService, FeatureStore, FeatureView, FileSource
from featurestore.display import Table
from featurestore.dsl.checks import Between
from tests.pit_repo import make_repo, utc
from tests.test_preview import text_cells

EVIL = "<script>alert('x & y')</script>"

DEFINITIONS = """
import polars as pl
from featurestore import RequestSource, on_demand_feature_view

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=None,
    source=FileSource(name="stats_source", path="data/stats.parquet"),
    features=[Feature("trips", "int64"), Feature("label", "string")],
    description="DESCRIPTION",
)
trip = RequestSource(name="trip", fields=[Feature("fare", "float64")])

@on_demand_feature_view(sources=[trip, stats[["trips"]]], features=[Feature("per_trip", "float64")])
def per_trip(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select((pl.col("fare") / pl.col("trips")).alias("per_trip"))
"""
T = utc(2024, 1, 2)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    data = {
        "driver_id": [1, 2],
        "event_timestamp": [utc(2024, 1, 1), utc(2024, 1, 1)],
        "trips": [4, None],
        "label": [EVIL, "plain"],
    }
    with make_repo(tmp_path, DEFINITIONS.replace("DESCRIPTION", "first"), {"data/stats.parquet": data}) as s:
        yield s


def parse(html: str) -> ElementTree.Element:
    """The HTML as a tree: it must be well-formed, every user string escaped."""
    root = ElementTree.fromstring(html)
    assert not list(root.iter("script"))
    return root


def tables(root: ElementTree.Element) -> list[tuple[list[str], list[list[str]]]]:
    """(header, body rows) of every table; a dtype row under the header is not in the body."""
    out = []
    for table in root.iter("table"):
        header = [th.text or "" for th in table.iter("th")]
        body = [[td.text or "" for td in tr.iter("td")] for tr in next(table.iter("tbody")).iter("tr")]
        out.append((header, body))
    return out


def paragraphs(root: ElementTree.Element) -> list[str]:
    return ["".join(p.itertext()) for p in root.iter("p")]


# -- the diff --------------------------------------------------------------------------------------------


def test_the_diff_shows_each_change_old_to_new(store: FeatureStore, tmp_path: Path) -> None:
    assert repr(store.plan()) == "RegistryDiff against registry version 1: no changes"
    defs = tmp_path / "definitions" / "defs.py"
    text = defs.read_text().replace("ttl=None", "ttl=timedelta(hours=3)")
    defs.write_text(text.replace('description="first"', f'description="{EVIL}"'))
    diff = store.plan()
    shown = repr(diff)
    # the on-demand view embeds the view it reads: it changes with it
    title = "RegistryDiff against registry version 1: 2 changes (2 changed)"
    assert shown.splitlines()[0] == title
    rows = text_cells(shown)
    assert rows[0] == ["change", "object", "name", "what (old -> new)", "online"]
    start = next(i for i, row in enumerate(rows) if row[2] == "stats")
    assert rows[start][:2] == ["changed (data)", "feature view"]
    detail = " ".join(row[3] for row in rows[start:])  # a long cell wraps onto the next lines
    assert "ttl none -> 3h" in detail
    assert "description 'first' ->" in detail
    root = parse(diff._repr_html_())
    assert paragraphs(root) == [title]
    [(header, body)] = tables(root)
    assert header == rows[0]
    assert [r[:3] for r in body] == [
        ["changed (data)", "on-demand feature view", "per_trip"],
        ["changed (data)", "feature view", "stats"],
    ]
    row = body[1]
    assert row[:3] == ["changed (data)", "feature view", "stats"]
    assert f"description 'first' -> {EVIL!r}" in row[3]  # the raw text, back from its escaped form
    assert "ttl none -> 3h" in row[3]
    assert row[4].startswith("a new online version")
    assert "&lt;script&gt;" in diff._repr_html_()


def test_an_empty_diff_and_its_warnings() -> None:
    from featurestore.registry.diff import RegistryDiff

    diff = RegistryDiff(warnings=("late events <b>",), base_version=0)
    assert repr(diff) == "RegistryDiff against an empty registry: no changes\nwarning: late events <b>"
    root = parse(diff._repr_html_())
    assert paragraphs(root) == [
        "RegistryDiff against an empty registry: no changes",
        "warning: late events <b>",
    ]


# -- online responses ------------------------------------------------------------------------------------


def test_an_online_response_keeps_statuses_out_of_value_cells(store: FeatureStore) -> None:
    store.materialize(end=T)
    response = store.get_online_features(["stats:trips", "stats:label"], {"driver_id": [1, 2, 3]}, now=T)
    text = repr(response)
    assert text.splitlines()[0] == "OnlineResponse: 3 entities, 2 features"
    cells = text_cells(text)
    assert cells[0] == ["driver_id", "trips", "label", "stats status"]
    assert cells[2] == ["int64", "int64", "string", "string"]
    assert cells[3:] == [
        ["1", "4", EVIL, "PRESENT"],
        ["2", "null", "plain", "PRESENT"],
        ["3", "null", "null", "NOT_FOUND"],
    ]
    root = parse(response._repr_html_())
    [(header, body)] = tables(root)
    assert header == ["driver_id", "trips", "label", "stats status"]
    assert ["".join(td.itertext()) for td in next(root.iter("thead")).iter("td")] == [
        "int64",
        "int64",
        "string",
        "string",
    ]
    assert body == cells[3:]
    assert "NOT_FOUND" not in [c for row in body for c in row[1:3]]
    assert paragraphs(root)[0] == "OnlineResponse: 3 entities, 2 features"


def test_a_long_response_shows_its_first_entities(store: FeatureStore) -> None:
    store.materialize(end=T)
    response = store.get_online_features(["stats:trips"], {"driver_id": list(range(1_500))}, now=T)
    text = repr(response)
    assert text.splitlines()[0] == "OnlineResponse: 1,500 entities, 1 feature"
    assert len(text_cells(text)) == 3 + 20
    assert (
        text.splitlines()[-1]
        == "showing the first 20 of 1,500 entities: .to_polars() or .to_pandas() for all"
    )


def test_an_on_demand_response_has_a_status_column_per_view(store: FeatureStore) -> None:
    store.materialize(end=T)
    response = store.get_online_features(
        ["stats:trips", "per_trip:per_trip"], {"driver_id": [1, 3]}, request_data={"fare": [10.0, 5.0]}, now=T
    )
    cells = text_cells(repr(response))
    assert cells[0] == ["driver_id", "trips", "per_trip", "stats status", "per_trip status"]
    assert cells[3:] == [
        ["1", "4", "2.5", "PRESENT", "PRESENT"],
        ["3", "null", "null", "NOT_FOUND", "NOT_FOUND"],
    ]
    [(header, body)] = tables(parse(response._repr_html_()))
    assert header == cells[0]
    assert body == cells[3:]


def test_to_pandas_keeps_integers_with_nulls(store: FeatureStore) -> None:
    store.materialize(end=T)
    response = store.get_online_features(["stats:trips", "stats:label"], {"driver_id": [1, 3]}, now=T)
    frame = response.to_pandas()
    assert list(frame.columns) == ["driver_id", "trips", "label"]
    assert str(frame["trips"].dtype) == "Int64"
    assert frame["trips"].iloc[0] == 4
    assert frame["trips"].iloc[1] is pd.NA  # entity 3 was never written
    assert frame["label"].tolist()[0] == EVIL
    with_status = response.to_pandas(statuses=True)
    assert with_status["trips__status"].astype(str).tolist() == ["PRESENT", "NOT_FOUND"]
    on_demand = store.get_online_features(
        ["stats:trips", "per_trip:per_trip"], {"driver_id": [1, 3]}, request_data={"fare": [10.0, 5.0]}, now=T
    ).to_pandas()
    assert str(on_demand["trips"].dtype) == "Int64"
    assert on_demand["trips"].iloc[1] is pd.NA
    assert on_demand["per_trip"].tolist()[0] == 2.5


def test_to_pandas_names_pandas_when_it_is_missing(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.materialize(end=T)
    response = store.get_online_features(["stats:trips"], {"driver_id": [1]}, now=T)
    monkeypatch.setitem(sys.modules, "pandas", None)  # what an import of an absent package raises
    with pytest.raises(ModuleNotFoundError, match=r"to_pandas\(\) needs pandas") as caught:
        response.to_pandas()
    assert caught.value.name == "pandas"


# -- views and services ----------------------------------------------------------------------------------


def _view(**changes: object) -> FeatureView:
    options: dict[str, object] = {
        "name": "driver_stats",
        "entities": [Entity(name="driver", join_keys=["driver_id"])],
        "source": FileSource(name="trips", path="data/trips.parquet", created_timestamp_field="created"),
        "ttl": timedelta(days=7),
        "features": [
            Feature("conv_rate", "float64", description=EVIL, checks=[Between(0, 1)]),
            Feature("trips_today", "int64"),
        ],
        "owner": "ml@example.com",
        "defined_at": "definitions/drivers.py:14",
    }
    return FeatureView(**(options | changes))  # type: ignore[arg-type]


def test_a_view_shows_its_entities_source_ttl_and_features() -> None:
    view = _view()
    text = repr(view)
    assert text.splitlines()[0] == "FeatureView driver_stats"
    cells = text_cells(text)
    assert ["entities", "driver (driver_id)"] in cells
    assert ["source", "FileSource trips"] in cells
    assert ["source path", "data/trips.parquet"] in cells
    assert ["source timestamps", "event event_timestamp, created created"] in cells
    assert ["ttl", "7d"] in cells
    assert ["owner", "ml@example.com"] in cells
    assert ["defined at", "definitions/drivers.py:14"] in cells
    assert ["feature", "dtype", "description", "checks"] in cells
    assert ["conv_rate", "float64", EVIL, "Between(0, 1)"] in cells
    assert ["trips_today", "int64", "", ""] in cells
    assert str(view) == text
    properties, features = tables(parse(view._repr_html_()))
    assert ["ttl", "7d"] in properties[1]
    assert features == (["feature", "dtype", "description", "checks"], cells[-2:])
    assert "&lt;script&gt;alert(&#x27;x &amp; y&#x27;)&lt;/script&gt;" in view._repr_html_()


def test_reprs_leave_pydantic_equality_alone() -> None:
    assert _view() == _view()
    assert _view() != _view(ttl=timedelta(days=1))
    assert _view().model_copy() == _view()


def test_an_aggregation_view_shows_its_windows() -> None:
    view = FeatureView(
        name="payments",
        entities=[Entity(name="customer", join_keys=["customer_id"])],
        source=FileSource(name="payments", path="data/payments.parquet"),
        aggregations=[
            Aggregation("amount", "sum", timedelta(days=7)),
            Aggregation("amount", "count", None, name="n_payments"),
        ],
    )
    cells = text_cells(repr(view))
    assert ["ttl", "none (derived from windows)"] in cells
    assert cells[-3] == ["feature", "dtype", "aggregation"]
    assert cells[-2][0::2] == ["amount_sum_7d", "sum(amount) over 7d"]
    assert cells[-1] == ["n_payments", "int64", "count(amount) over lifetime"]


def test_a_service_shows_its_features_with_dtypes() -> None:
    view = _view()
    service = FeatureService(name="model_v1", features=[view[["trips_today"]]], description=EVIL)
    assert repr(view[["trips_today"]]) == "driver_stats[['trips_today']]"
    text = repr(service)
    assert text.splitlines()[0] == "FeatureService model_v1"
    cells = text_cells(text)
    assert ["views", "driver_stats"] in cells
    assert ["features", "1"] in cells
    assert ["description", EVIL] in cells
    assert cells[-2:] == [["view", "feature", "dtype"], ["driver_stats", "trips_today", "int64"]]
    properties, features = tables(parse(service._repr_html_()))
    assert ["description", EVIL] in properties[1]
    assert features[1] == [["driver_stats", "trips_today", "int64"]]
    assert service == service.model_copy()
    assert service != service.model_copy(update={"description": ""})


def test_a_table_cell_stays_on_its_line() -> None:
    table = Table("t", ("a",), (("one\ntwo",),))
    assert text_cells(table.text())[1] == ["one\\ntwo"]
    assert "<td>one\\ntwo</td>" in table.html()


def test_apply_s_display_names_the_next_calls(tmp_path: Path) -> None:
    from tests.pit_repo import make_repo

    defs = """
driver = Entity(name="driver", join_keys=["driver_id"])
src = FileSource(name="s", path="data/s.parquet", timestamp_field="event_timestamp")
stats = FeatureView(name="stats", entities=[driver], source=src, ttl=None,
                    features=[Feature("rate", "float64")])
"""
    import datetime as dt

    store = make_repo(
        tmp_path,
        defs,
        {"data/s.parquet": {"driver_id": [1], "event_timestamp": [dt.datetime(2024, 1, 1)], "rate": [0.5]}},
        apply=False,
    )
    diff = store.apply()
    assert diff.next_steps
    assert f"next: {diff.next_steps[0]}" in repr(diff)
    assert "store.materialize" in diff._repr_html_()

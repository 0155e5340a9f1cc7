"""A training set's preview joins only the first N entity rows, and says it is a preview of N of M."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import polars as pl
import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.errors import InvalidArgumentError
from tests.pit_repo import make_repo, utc

DEFINITIONS = """
import polars as pl
from featurestore import RequestSource, on_demand_feature_view

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=2),
    source=FileSource(name="stats_source", path="data/stats.parquet"),
    features=[Feature("trips", "int64"), Feature("rate", "float64")],
)
trip = RequestSource(name="trip", fields=[Feature("fare", "float64")])

@on_demand_feature_view(sources=[trip, stats[["rate"]]], features=[Feature("value", "float64")])
def value(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select((pl.col("fare") * pl.col("rate")).alias("value"))
"""

T0 = utc(2024, 1, 1)
ROWS = 1_234
DRIVERS = 20


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    # driver d has a value every day from T0: trips = day * 100 + d, rate = d / 10
    days = 30
    data = {
        "driver_id": [d for day in range(days) for d in range(DRIVERS)],
        "event_timestamp": [T0 + timedelta(days=day) for day in range(days) for _ in range(DRIVERS)],
        "trips": [day * 100 + d for day in range(days) for d in range(DRIVERS)],
        "rate": [d / 10 for _ in range(days) for d in range(DRIVERS)],
    }
    with make_repo(tmp_path, DEFINITIONS, {"data/stats.parquet": data}) as store:
        yield store


def entity_rows() -> pl.DataFrame:
    """ROWS rows; the first ten within T0 + 1 day .. T0 + 1 day 9 h, the later ones up to T0 + 29 days."""
    times = [T0 + timedelta(days=1, hours=i) for i in range(10)]
    times += [T0 + timedelta(days=1 + (i % 28), minutes=i) for i in range(ROWS - 10)]
    return pl.DataFrame(
        {
            "driver_id": [i % (DRIVERS + 1) for i in range(ROWS)],  # driver 20 has no data
            "event_timestamp": times,
            "fare": [float(i) for i in range(ROWS)],
        }
    )


class Registrations:
    """What the real engine was handed: the entity tables registered (name -> rows) and the SQL run."""

    def __init__(self, store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
        engine = store.engine
        self.tables: dict[str, int] = {}
        self.sql: list[str] = []
        register, to_arrow = engine.register, engine.to_arrow

        def recording_register(name: str, table: pa.Table) -> None:
            self.tables[name] = table.num_rows
            register(name, table)

        def recording_to_arrow(sql: str) -> pa.Table:
            self.sql.append(sql)
            return to_arrow(sql)

        monkeypatch.setattr(engine, "register", recording_register)
        monkeypatch.setattr(engine, "to_arrow", recording_to_arrow)

    def entity_tables_read(self) -> dict[str, int]:
        """The registered entity tables the recorded SQL names, with their row counts."""
        return {name: n for name, n in self.tables.items() if any(name in sql for sql in self.sql)}


def test_the_preview_joins_only_the_first_rows(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    training = store.get_training_set(entity_rows(), ["stats:trips", "stats:rate"])
    seen = Registrations(store, monkeypatch)
    preview = training.preview(10)
    assert seen.entity_tables_read() == {next(iter(seen.tables)): 10}
    assert training.plan.entity.table not in "".join(seen.sql)  # the full entity table is never read
    full = training.to_arrow()
    assert preview.equals(full.slice(0, 10))
    # hand-checked: row 3 is driver 3 at T0 + 1 day 3 h: the value of day 1 (trips 103, rate 0.3)
    assert preview.slice(3, 1).to_pylist()[0] | {"event_timestamp": None} == {
        "driver_id": 3,
        "event_timestamp": None,
        "fare": 3.0,
        "trips": 103,
        "rate": 0.3,
    }


def test_the_head_is_planned_over_its_own_rows_and_time_range(store: FeatureStore) -> None:
    training = store.get_training_set(entity_rows(), ["stats:trips"])
    head = training.head(10)
    assert head.plan.entity.row_count == 10
    assert len(head) == 10
    assert head.plan.entity.table != training.plan.entity.table
    scan = head.plan.joins[0].scan
    # the scan reads from the first ten rows' earliest time less the ttl to their latest time
    assert (scan.lower, scan.upper) == (
        (T0 + timedelta(days=1) - timedelta(days=2)).replace(tzinfo=None),
        (T0 + timedelta(days=1, hours=9)).replace(tzinfo=None),
    )
    assert training.plan.joins[0].scan.upper > scan.upper
    assert "TrainingSet: 10 entity rows" in head.explain()
    assert training.head(ROWS) is training
    assert training.head(ROWS + 5) is training
    with pytest.raises(InvalidArgumentError, match="row count >= 0, got -1"):
        training.head(-1)


def test_the_on_demand_preview_joins_only_the_first_rows(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = store.get_training_set(entity_rows(), ["stats:trips", "value:value"])
    seen = Registrations(store, monkeypatch)
    preview = training.preview(5)
    assert list(seen.entity_tables_read().values()) == [5]
    assert preview.equals(training.to_arrow().slice(0, 5))
    assert preview.column("value").to_pylist() == [0.0 * 0.0, 1.0 * 0.1, 2.0 * 0.2, 3.0 * 0.3, 4.0 * 0.4]
    assert len(training.head(5)) == 5
    assert training.head(5).columns == training.columns


def text_cells(text: str) -> list[list[str]]:
    """The cells of each line of a text table (lines between ``│``, cells split at ``┆``)."""
    return [
        [c.strip() for c in line.strip("│").split("┆")] for line in text.splitlines() if line.startswith("│")
    ]


def _html_rows(html: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, body rows, paragraphs) of the one table in ``html``."""
    root = ElementTree.fromstring(html)
    header = [th.text or "" for th in root.iter("th")]
    body = [[td.text or "" for td in tr.iter("td")] for tr in next(root.iter("tbody")).iter("tr")]
    paragraphs = ["".join(p.itertext()) for p in root.iter("p")]
    return header, body, paragraphs


@pytest.mark.parametrize("features", [["stats:trips"], ["stats:trips", "value:value"]])
def test_the_notebook_shows_a_preview_of_n_of_m_rows(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch, features: list[str]
) -> None:
    training = store.get_training_set(entity_rows(), features)
    seen = Registrations(store, monkeypatch)
    html = training._repr_html_()
    assert list(seen.entity_tables_read().values()) == [10]
    header, body, paragraphs = _html_rows(html)
    assert header == training.columns
    assert len(body) == 10
    assert body[3][:2] == ["3", "2024-01-02 03:00:00+00:00"]
    assert body[3][header.index("trips")] == "103"
    columns = len(training.columns)
    assert paragraphs[0] == f"TrainingSet: 1,234 rows, {columns} columns; a preview of the first 10"
    assert paragraphs[1].startswith("preview of 10 of 1,234 rows: only these entity rows were joined")
    # the text repr runs nothing and shows the shape and where each column comes from
    seen.sql.clear()
    text = repr(training)
    assert seen.sql == []
    assert text.splitlines()[0] == f"TrainingSet: 1,234 rows, {columns} columns (planned; nothing has run)"
    assert ["trips", "stats:trips", "int64"] in text_cells(text)


def test_a_small_training_set_shows_all_its_rows(store: FeatureStore) -> None:
    rows: Any = entity_rows().head(3)
    header, body, paragraphs = _html_rows(store.get_training_set(rows, ["stats:trips"])._repr_html_())
    assert paragraphs == ["TrainingSet: 3 rows, 4 columns"]
    assert [r[header.index("trips")] for r in body] == ["100", "101", "102"]

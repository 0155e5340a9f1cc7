"""The run loop and its strategies: which strategy a view gets, what a strategy failing mid-run leaves
behind (nothing that moves: the old watermark, no writer, the old partial states), and the package's
modules importing one way.

The repo: a plain view ``stats`` and an aggregation view ``pay`` (lifetime sum, with a created time), as
of ``T``, then one more row each at ``T + 30min``::

    driver  event time   rate        customer  ts          amount
    1       T - 3h       0.1         1         T - 3h      10
    1       T - 1h       0.2         1         T - 1h       5
    2       T - 2h       0.5         2         T - 2h       7
    3       T - 30min    0.9         3         T - 30min    1
    1       T + 30min    0.3         1         T + 30min  100     (appended after the first run)
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.materialize import (
    Aggregates,
    LatestValues,
    Materializer,
    MaterializeStrategy,
    Reads,
    ReadStats,
    ViewJob,
    ViewRequest,
    select_views,
    strategy_for,
    wall_clock_us,
)
from featurestore.materialize.aggregates import AggregatesJob
from featurestore.materialize.latest import LatestJob
from featurestore.plan import LatestPerKey
from featurestore.plan.window import AggregatesAt
from featurestore.registry.model import RegisteredView
from featurestore.registry.partials import PartialStore
from featurestore.registry.state import ViewVersion
from tests.pit_repo import make_repo, write_data

H = timedelta(hours=1)
T = datetime(2024, 5, 10, 12)
DEFS = """
from featurestore import Aggregation
driver = Entity(name="driver", join_keys=["driver_id"])
customer = Entity(name="customer", join_keys=["customer_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=None,
    source=FileSource(name="stats_src", path="data/stats/*.parquet", timestamp_field="event_timestamp"),
    features=[Feature("rate", "float64")],
)
pay = FeatureView(
    name="pay", entities=[customer],
    source=FileSource(name="pay_src", path="data/pay/*.parquet", timestamp_field="ts",
                      created_timestamp_field="created"),
    aggregations=[Aggregation("amount", "sum", None), Aggregation("amount", "count", timedelta(hours=1))],
)
"""
STATS = {
    "driver_id": [1, 1, 2, 3],
    "event_timestamp": [T - 3 * H, T - H, T - 2 * H, T - H / 2],
    "rate": [0.1, 0.2, 0.5, 0.9],
}
PAY_TS = [T - 3 * H, T - H, T - 2 * H, T - H / 2]
PAY = {
    "customer_id": [1, 1, 2, 3],
    "ts": PAY_TS,
    "created": [ts + H / 60 for ts in PAY_TS],
    "amount": [10.0, 5.0, 7.0, 1.0],
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    data = {"data/stats/0.parquet": STATS, "data/pay/0.parquet": PAY}
    with make_repo(tmp_path, DEFS, data) as store:
        yield store


def _append(store: FeatureStore) -> None:
    at = T + H / 2
    write_data(store.root, "data/stats/1.parquet", {"driver_id": [1], "event_timestamp": [at], "rate": [0.3]})
    write_data(
        store.root,
        "data/pay/1.parquet",
        {"customer_id": [1], "ts": [at], "created": [at + H / 60], "amount": [100.0]},
    )


def _materializer(store: FeatureStore, **options: object) -> Materializer:
    """A run loop over the store's own collaborators, writing one entity per batch."""
    return Materializer(
        store.registry,
        store.engine,
        store.online_store,
        store.state,
        store.root,
        settings=store.config.materialize.model_copy(update={"batch_size": 1}),
        clock=wall_clock_us,
        **options,  # type: ignore[arg-type]
    )


def _record(store: FeatureStore, view: str) -> ViewVersion:
    (record,) = store.state.versions(view)
    return record


# -- the strategy a view gets ---------------------------------------------------------------------------


def test_a_plain_view_gets_latest_values_and_an_aggregation_view_gets_aggregates(store: FeatureStore) -> None:
    reads = Reads(store.engine, store.root, store.config.materialize.lookback)
    plain, aggregated = store.registry.view("stats"), store.registry.view("pay")

    latest, aggregates = strategy_for(plain, reads), strategy_for(aggregated, reads)
    assert isinstance(latest, LatestValues)
    assert latest.kind == "latest"
    assert isinstance(aggregates, Aggregates)
    assert aggregates.kind == "aggregates"

    # Each plans its kind's query, and the stats it reads are the rows of the source up to T.
    job = latest.plan(ViewRequest(plain, None, T, False, None))
    assert isinstance(job, LatestJob)
    assert isinstance(job.plan, LatestPerKey)
    assert job.prepare() == ReadStats(rows_read=4, rows_skipped=0, max_created=None)
    agg_job = aggregates.plan(ViewRequest(aggregated, None, T, False, None))
    assert isinstance(agg_job, AggregatesJob)
    assert isinstance(agg_job.plan, AggregatesAt)
    assert agg_job.plan.frozen is not None  # a lifetime sum keeps partial states
    assert agg_job.prepare().rows_read == 4
    agg_job.discard()
    assert not Path(agg_job.plan.frozen.path).exists()


def test_the_loop_writes_what_each_strategy_returns(store: FeatureStore) -> None:
    summary = _materializer(store).run(
        select_views(store.registry, None), start=None, end=T, incremental=False
    )
    assert sorted((r.view, r.rows_read, r.entities_written) for r in summary.runs) == [
        ("pay", 4, 3),
        ("stats", 4, 3),
    ]
    rates = store.get_online_features(["stats:rate"], {"driver_id": [1, 2, 3]}, now=T).to_dict()
    assert rates["rate"] == [0.2, 0.5, 0.9]
    sums = store.get_online_features(["pay:amount_sum_lifetime"], {"customer_id": [1, 2, 3]}, now=T)
    assert sums.to_dict()["amount_sum_lifetime"] == [15.0, 7.0, 1.0]


# -- a strategy failing mid-run --------------------------------------------------------------------------


class SourceWentAway(RuntimeError):
    pass


@dataclass
class FailsAfterOneBatch:
    """A real job whose batch stream breaks after its first batch (as a source read part-way does)."""

    job: ViewJob

    def prepare(self) -> ReadStats:
        return self.job.prepare()

    def batches(self, batch_size: int) -> Iterable[pa.RecordBatch]:
        batches = iter(self.job.batches(batch_size))
        yield next(batches)
        raise SourceWentAway("the source went away after one batch")

    def commit(self) -> None:
        self.job.commit()

    def discard(self) -> None:
        self.job.discard()


@dataclass
class Failing:
    inner: MaterializeStrategy

    @property
    def kind(self) -> str:
        return self.inner.kind

    def plan(self, request: ViewRequest) -> ViewJob:
        return FailsAfterOneBatch(self.inner.plan(request))


def failing(rv: RegisteredView, reads: Reads) -> MaterializeStrategy:
    return Failing(strategy_for(rv, reads))


@pytest.mark.parametrize("view", ["stats", "pay"])
def test_a_strategy_failing_mid_run_leaves_the_watermark_and_deregisters_the_writer(
    store: FeatureStore, view: str, caplog: pytest.LogCaptureFixture
) -> None:
    store.materialize(end=T, views=[view])
    before = _record(store, view)
    assert before.watermark is not None
    assert before.watermark.event_time == T
    partials = PartialStore(store.root)
    kept = partials.current("pay", store.registry.view("pay").data_fingerprint)
    files = sorted(p.name for p in (store.root / ".featurestore" / "aggregates").rglob("*.parquet"))
    _append(store)

    chosen = select_views(store.registry, [view])
    with caplog.at_level(logging.INFO, "featurestore.materialize"), pytest.raises(SourceWentAway):
        _materializer(store, choose=failing).run(chosen, start=None, end=T + H, incremental=False)

    after = _record(store, view)
    assert after.version == before.version
    assert after.watermark == before.watermark  # unchanged, created time included
    assert after.writers == ()  # the failed run no longer counts as a writer
    # What the run kept beside the online values is gone; the last run's partial states stay current.
    assert partials.current("pay", store.registry.view("pay").data_fingerprint) == kept
    assert sorted(p.name for p in (store.root / ".featurestore" / "aggregates").rglob("*.parquet")) == files
    (line,) = [r for r in caplog.records if r.getMessage().startswith(f"materializing {view} ")]
    assert (line.levelname, line.__dict__["status"]) == ("ERROR", "failed")
    assert "watermark unchanged" in line.getMessage()

    # Running it again ends as one clean run would.
    store.materialize(end=T + H, views=[view])
    record = _record(store, view)
    assert record.watermark is not None
    assert record.watermark.event_time == T + H
    if view == "stats":
        online = store.get_online_features(["stats:rate"], {"driver_id": [1, 2, 3]}, now=T + H).to_dict()
        assert online["rate"] == [0.3, 0.5, 0.9]
    else:
        refs = ["pay:amount_sum_lifetime", "pay:amount_count_1h"]
        online = store.get_online_features(refs, {"customer_id": [1, 2, 3]}, now=T + H).to_dict()
        assert online["amount_sum_lifetime"] == [115.0, 7.0, 1.0]
        assert online["amount_count_1h"] == [1, 0, 0]
    assert [c.failures for c in store.verify(sample=None, views=[view])] == [0]


# -- the package imports one way ------------------------------------------------------------------------


def _imports_within(package: Path) -> dict[str, set[str]]:
    """For each module of ``package``: the modules of the same package it imports (TYPE_CHECKING too)."""
    name = package.name
    edges: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                parts = target.split(".")
                if parts[:2] == ["featurestore", name]:
                    found.add(parts[2] if len(parts) > 2 else "__init__")
        edges[path.stem] = found - {path.stem}
    return edges


def test_no_module_of_the_materialize_package_imports_one_that_imports_it_back() -> None:
    import featurestore.materialize

    edges = _imports_within(Path(featurestore.materialize.__file__).parent)
    assert {"run", "latest", "aggregates", "strategy", "time_bounds", "summary"} <= set(edges)

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in edges.get(todo.pop(), set()) - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    assert [(a, b) for a in edges for b in edges[a] if a in reachable(b)] == []
    assert "run" not in reachable("latest") | reachable("aggregates")  # strategies never see the loop

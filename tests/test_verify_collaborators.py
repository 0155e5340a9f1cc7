"""``verify`` runs on the collaborators it is handed (registry, engine, renderer, online store, served
versions, state, root), built here from the real components without the ``FeatureStore`` facade.

``stats`` (ttl 1 day) is materialized up to ``T = now - 2h``:

    driver  rows (relative to T)                     offline at T   online      class
    1       T-30m rate 0.1                           0.1            0.1         match
    2       T-30m rate 0.2; T-10m rate 0.9 (late)    0.9            0.2         mismatch
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from featurestore.config import load_config
from featurestore.engines import open_engine
from featurestore.online.factory import open_online_store
from featurestore.registry.files_backend import FilesBackend
from featurestore.registry.storage import read_registry
from featurestore.sql import renderer_for
from featurestore.verify import Collaborators, verify
from featurestore.versions import serving
from tests.pit_repo import make_repo, write_data

DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
src = FileSource(name="stats", path="data/stats.parquet", timestamp_field="event_timestamp")
stats = FeatureView(name="stats", entities=[driver], source=src, ttl=timedelta(days=1),
                    features=[Feature("rate", "float64")])
"""
M = timedelta(minutes=1)


def test_verify_on_handed_collaborators(tmp_path: Path) -> None:
    at = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=2)
    data = {"driver_id": [1, 2], "event_timestamp": [at - 30 * M, at - 30 * M], "rate": [0.1, 0.2]}
    with make_repo(tmp_path, DEFS, {"data/stats.parquet": data}) as store:
        store.materialize(end=at)
    late = {"driver_id": [1, 2, 2], "event_timestamp": [at - 30 * M, at - 30 * M, at - 10 * M]}
    write_data(tmp_path, "data/stats.parquet", {**late, "rate": [0.1, 0.2, 0.9]})

    config = load_config(tmp_path)
    registry = read_registry(tmp_path)
    assert registry is not None
    engine = open_engine(config.offline, tmp_path)
    online = open_online_store(config.online, tmp_path)
    state = FilesBackend(tmp_path).snapshot()
    try:
        collaborators = Collaborators(
            registry=registry,
            engine=engine,
            renderer=renderer_for(engine.capabilities),
            online=online,
            served=serving(registry, state),
            state=state,
            root=tmp_path,
            clock_skew=config.materialize.clock_skew,
        )
        [check] = verify(collaborators, sample=None)
    finally:
        engine.close()
        online.close()
    assert (check.view, check.status, check.at) == ("stats", "checked", at)
    assert (check.entities, check.matches, check.mismatches, check.missing) == (2, 1, 1, 0)
    [example] = check.examples
    assert example["key"] == {"driver_id": 2}
    assert (example["online"], example["offline"]) == ({"rate": 0.2}, {"rate": 0.9})
    assert example["offline_event_time"] == at - 10 * M

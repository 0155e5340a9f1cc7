"""A definition change never takes features offline, proven against a real ``featurestore serve``.

A server runs on a small repo (SQLite, and Redis), and a background thread reads it over HTTP in a loop
while the test changes the definitions one after another, each change applied, then materialized (which
promotes the new version and deletes the old one after a grace):

1. the ttl (3 days -> 2 days);
2. a feature renamed (``level`` -> ``tier``);
3. a feature added (``bonus``);
4. the source path (a copy of the file under a new name);
5. the entity (renamed, same join key).

The reader keeps a ledger of every answer and the test asserts, for the whole run: every
(entity, feature) that was PRESENT stays PRESENT (never NOT_FOUND, EXPIRED or an error) with the right
value, and each phase saw a good number of requests. What a client sees of the renamed feature is asserted
exactly: the old name answers PRESENT until the apply, then ``404 UnknownFeatureError`` (the name is no
longer defined, so the request is a client error, not missing data), never a 200 with NOT_FOUND; the new
names answer 404 before their apply, NOT_FOUND while their version is pending, PRESENT once promoted.

Also: two clones of one repo (same folder name, hence the same project, and the same definitions) on one
Redis: one of them changing a view, promoting and tearing down never touches the other's values.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestore import FeatureStore
from featurestore.registry.diff import RegistryDiff
from featurestore.store import FILES_RECHECK
from tests.online.conftest import require_redis, start_redis
from tests.pit_repo import write_data, write_definitions
from tests.server.conftest import Server, assert_clean_exit, start_server

ROOT = Path(__file__).resolve().parent.parent

N = 49
"""Entities with data. One more id that never has data is requested too: the server's limit is 50."""
IDS = list(range(1, N + 1))
NEVER = 999_999
REQUESTED = [*IDS, NEVER]

DTYPES = {"rate": "float64", "trips": "int64", "level": "int64", "tier": "int64", "bonus": "float64"}
STABLE = ("rate", "trips")
"""Features every step defines: read together in one request throughout."""
PROBED = ("level", "tier", "bonus")
"""Features some steps define: each read beside ``rate``, so an unknown name fails only its own request."""

MIN_REQUESTS = 40
"""Requests the reader must start in every phase the test waits in (baseline, applied, materialized)."""
MIN_DURING_SWITCH = 10
"""Requests it must start while a promoting materialization runs (it lasts >= the 1 s deletion grace)."""
WAIT = 30.0


def expected(feature: str, driver: int) -> float | int:
    """The latest value of every feature: what every PRESENT answer must hold."""
    if feature in ("level", "tier"):  # one column under two names, as during a column rename
        return driver % 7
    return {"rate": driver / 100, "trips": driver * 2, "bonus": driver * 0.5}[feature]


def source_data(now: datetime) -> dict[str, list[Any]]:
    """Two rows per entity, both well inside every ttl: an older one (wrong values everywhere) and the
    latest one, so a version read from the wrong rows shows up as a wrong value, not only a status."""
    old, new = now - timedelta(hours=5), now - timedelta(hours=1)
    columns: dict[str, list[Any]] = {"driver_id": [], "event_timestamp": []}
    for feature in DTYPES:
        columns[feature] = []
    for driver in IDS:
        for stamp, latest in ((old, False), (new, True)):
            columns["driver_id"].append(driver)
            columns["event_timestamp"].append(stamp)
            for feature in DTYPES:
                value = expected(feature, driver)
                columns[feature].append(value if latest else -value - 1)
    return columns


@dataclass(frozen=True)
class Defs:
    """The definitions of one step."""

    entity: str = "driver"
    path: str = "data/stats.parquet"
    ttl_days: int = 3
    features: tuple[str, ...] = ("rate", "trips", "level")

    def text(self) -> str:
        features = ", ".join(f'Feature("{f}", "{DTYPES[f]}")' for f in self.features)
        return f"""
        {self.entity} = Entity(name="{self.entity}", join_keys=["driver_id"])
        src = FileSource(name="stats_source", path="{self.path}", timestamp_field="event_timestamp")
        stats = FeatureView(name="stats", entities=[{self.entity}], source=src,
                            ttl=timedelta(days={self.ttl_days}), features=[{features}])
        """


def write_repo(root: Path, online: str, now: datetime, project: str | None = None) -> FeatureStore:
    """A repo with the first step's definitions, applied and materialized up to ``now``."""
    root.mkdir(parents=True)
    head = f'project = "{project}"\n\n' if project else ""
    (root / "featurestore.toml").write_text(f"{head}[online]\n{online}")
    write_definitions(root, Defs().text())
    write_data(root, Defs().path, source_data(now))
    store = FeatureStore(root)
    store.apply()
    store.materialize(end=now)
    return store


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_redis()
    server = start_redis(tmp_path_factory.mktemp("lifecycle-redis"))
    yield server.url
    server.stop()


# -- the reader and its ledger --------------------------------------------------------------------------


def read(server: Server, features: list[str]) -> tuple[int, Any]:
    """POST /online-features for ``stats:<feature>`` of every requested entity: (status, JSON body)."""
    body = {"features": [f"stats:{f}" for f in features], "entities": {"driver_id": REQUESTED}}
    status, answer, _ = server.request("POST", "/online-features", body)
    return status, answer


READS = [list(STABLE), *(["rate", feature] for feature in PROBED), ["*"]]
"""What the reader asks, in turn: the stable features; each probed one beside ``rate`` (a feature of the
active version and one of a pending version in one request); and ``stats:*``, whatever it means now."""


@dataclass
class Ledger:
    """Every answer the reader got, checked as it arrives (one thread: answers arrive in request order)."""

    seen: dict[tuple[str, int], str]
    """The last status of each (feature, entity)."""
    phase: str = "start"
    requests: Counter[str] = field(default_factory=Counter)
    """Requests started, per phase."""
    runs: dict[str, list[str]] = field(default_factory=dict)
    """Per probed feature: ``known`` (answered 200) or ``unknown`` (404), one entry per run of either."""
    violations: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        if len(self.violations) < 50:  # the first ones tell the story
            self.violations.append(text)

    def record(self, phase: str, features: list[str], status: int, body: Any) -> None:
        probe = features[-1]
        if status == 404 and isinstance(body, dict) and body["error"]["type"] == "UnknownFeatureError":
            if probe not in PROBED or f"stats:{probe}" not in body["error"]["message"]:
                self.fail(f"{phase}: {features} -> 404 {body}")
            self._run(probe, "unknown")
            return
        if status != 200:
            self.fail(f"{phase}: {features} -> {status} {body}")
            return
        if probe in PROBED:
            self._run(probe, "known")
        for feature in body["features"]:
            statuses, values = body["statuses"][feature], body["values"][feature]
            for driver, state, value in zip(body["values"]["driver_id"], statuses, values, strict=True):
                self._value(phase, feature, driver, state, value)

    def _run(self, feature: str, kind: str) -> None:
        runs = self.runs.setdefault(feature, [])
        if not runs or runs[-1] != kind:
            runs.append(kind)

    def _value(self, phase: str, feature: str, driver: int, state: str, value: Any) -> None:
        before = self.seen.get((feature, driver))
        self.seen[(feature, driver)] = state
        where = f"{phase}: {feature} of driver {driver}"
        if driver == NEVER:
            if state != "NOT_FOUND":
                self.fail(f"{where} (never written) is {state}")
        elif state == "PRESENT":
            if value != expected(feature, driver):
                self.fail(f"{where} is {value!r}, expected {expected(feature, driver)!r}")
        elif state == "NOT_FOUND":
            if before == "PRESENT":
                self.fail(f"{where} went PRESENT -> NOT_FOUND")
        else:  # EXPIRED: every row is well inside every ttl
            self.fail(f"{where} is {state} (was {before})")


class Reader:
    """Reads the server in a loop from a background thread until stopped."""

    def __init__(self, server: Server, present: list[str]) -> None:
        self.server = server
        self.ledger = Ledger(seen={(f, d): "PRESENT" for f in present for d in IDS})
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="lifecycle-reader", daemon=True)

    def start(self, phase: str) -> None:
        self.ledger.phase = phase
        self.thread.start()

    def _loop(self) -> None:
        try:
            while not self.stopping.is_set():
                for features in READS:
                    with self.lock:
                        phase = self.ledger.phase
                        self.ledger.requests[phase] += 1
                    try:
                        status, answer = read(self.server, features)
                    except OSError as exc:  # no answer at all: as bad as a 5xx
                        status, answer = -1, repr(exc)
                    with self.lock:
                        self.ledger.record(phase, features, status, answer)
        except Exception as exc:  # an exception in this thread would go unseen: the ledger reports it
            with self.lock:
                self.ledger.violations.append(f"the reader crashed: {exc!r}")

    def enter(self, phase: str) -> None:
        with self.lock:
            self.ledger.phase = phase

    def wait(self, minimum: int = MIN_REQUESTS) -> None:
        """Block until the reader has started more than ``minimum`` requests in the current phase (so
        ``minimum`` of them have been answered): the test cannot pass by not reading."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self.lock:
                assert self.thread.is_alive(), self.ledger.violations
                if self.ledger.requests[self.ledger.phase] > minimum:
                    return
            time.sleep(0.01)
        raise AssertionError(f"the reader made fewer than {minimum} requests in {WAIT}s")

    def stop(self) -> Ledger:
        self.stopping.set()
        self.thread.join(timeout=WAIT)
        assert not self.thread.is_alive(), "the reader did not stop"
        return self.ledger


# -- the steps --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    defs: Defs
    detail: str
    """What ``apply`` reports changed on the view."""
    data_change: bool = True


def steps() -> list[Step]:
    ttl = Defs(ttl_days=2)
    renamed = replace(ttl, features=("rate", "trips", "tier"))
    added = replace(renamed, features=("rate", "trips", "tier", "bonus"))
    moved = replace(added, path="data/stats_copy.parquet")
    entity = replace(moved, entity="chauffeur")
    return [
        Step("ttl", ttl, "ttl 3d -> 2d"),
        Step("rename", renamed, "features -level +tier"),
        Step("add", added, "features +bonus"),
        Step("source", moved, "source.path 'data/stats.parquet' -> 'data/stats_copy.parquet'"),
        # Entities enter the view's data only through their join keys: a renamed entity with the same key
        # means the same values, so it is a metadata change and the served version stays.
        Step("entity", entity, "entities -driver(driver_id) +chauffeur(driver_id)", data_change=False),
    ]


def assert_present(server: Server, features: list[str]) -> None:
    status, body = read(server, features)
    assert status == 200, body
    for feature in features:
        assert body["statuses"][feature] == ["PRESENT"] * N + ["NOT_FOUND"], (feature, body["statuses"])
        assert body["values"][feature][:N] == [expected(feature, d) for d in IDS], feature


def view_change(diff: RegistryDiff) -> tuple[str, str]:
    (change,) = [c for c in diff.changes if c.object_type == "feature view"]
    return change.kind, change.detail


def active_namespace(store: FeatureStore) -> str:
    """The namespace of the one version of ``stats``, which must be active and complete in the store."""
    (status,) = store.status(["stats"])
    assert (status.status, status.keys, status.store, status.problems) == ("active", N, "ok", ())
    active = store.state.active("stats")
    assert active is not None
    assert store.served_views()["stats"].active is None  # nothing is read from a second version
    return active.namespace


def run_step(step: Step, store: FeatureStore, server: Server, reader: Reader) -> None:
    """Change the definitions, apply, check; materialize (which promotes), check."""
    namespace = active_namespace(store)
    reader.enter(f"{step.name}: applying")
    if step.name == "source":
        shutil.copy(store.root / "data" / "stats.parquet", store.root / step.defs.path)
    write_definitions(store.root, step.defs.text())
    assert view_change(store.apply()) == ("data" if step.data_change else "metadata", step.detail)
    time.sleep(FILES_RECHECK)  # the server looks at the registry files at most this often
    reader.enter(f"{step.name}: applied")
    reader.wait()
    statuses = [(v.status, v.keys) for v in store.status(["stats"])]
    if step.data_change:  # the old version serves; the new one waits, empty
        assert statuses == [("active", N), ("pending", 0)]
        assert store.served_views()["stats"].active is not None
    else:
        assert statuses == [("active", N)]
    assert_present(server, list(STABLE))
    if step.name == "rename":  # a client still asking for the old name is told it is unknown
        status, body = read(server, ["rate", "level"])
        assert (status, body["error"]["type"]) == (404, "UnknownFeatureError"), body
    if step.name in ("rename", "add"):  # the new name reads NOT_FOUND (it was never PRESENT) for now
        new = "tier" if step.name == "rename" else "bonus"
        status, body = read(server, ["rate", new])
        assert status == 200, body
        assert body["statuses"][new] == ["NOT_FOUND"] * (N + 1)

    reader.enter(f"{step.name}: materializing")
    (run,) = store.materialize(end=datetime.now(UTC)).runs
    assert run.promoted == step.data_change
    time.sleep(FILES_RECHECK)
    reader.enter(f"{step.name}: materialized")
    reader.wait()
    promoted = active_namespace(store)
    if step.data_change:
        assert promoted != namespace
        assert store.online_store.count_keys(namespace) == 0  # the replaced version is deleted...
        assert [r.namespace for r in store.state.versions("stats")] == [promoted]  # ...and forgotten
    else:
        assert promoted == namespace
    assert_present(server, list(step.defs.features))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_definition_change_never_takes_served_features_offline(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    online = 'type = "sqlite"\n'
    if kind == "redis":
        online = f'type = "redis"\nurl = "{request.getfixturevalue("redis_url")}"\n'
    store = write_repo(tmp_path / "repo", online, datetime.now(UTC), project=f"lifecycle_{kind}")
    active_namespace(store)
    # The server process imports this checkout's code, like the test process.
    server = start_server(store.root, tmp_path, env_extra={"PYTHONPATH": str(ROOT)})
    first = list(Defs().features)
    assert_present(server, first)
    reader = Reader(server, present=first)
    try:
        reader.start("baseline")
        reader.wait()
        for step in steps():
            run_step(step, store, server, reader)
    finally:
        ledger = reader.stop()
        assert_clean_exit(server)
        store.close()

    assert not ledger.violations, "\n".join(ledger.violations)
    for step in steps():
        for phase in ("applied", "materialized"):
            assert ledger.requests[f"{step.name}: {phase}"] > MIN_REQUESTS, ledger.requests
        if step.data_change:  # reads went on while the new version took over and the old one was deleted
            assert ledger.requests[f"{step.name}: materializing"] >= MIN_DURING_SWITCH, ledger.requests
    # The old name: PRESENT until the apply, then unknown. The new ones: unknown until their apply, then
    # NOT_FOUND until promoted, then PRESENT (the ledger checked no PRESENT went back). No flapping.
    assert ledger.runs == {"level": ["known", "unknown"], "tier": ["unknown", "known"],
                           "bonus": ["unknown", "known"]}  # fmt: skip
    final = steps()[-1].defs.features
    assert {ledger.seen[(f, d)] for f in final for d in IDS} == {"PRESENT"}


# -- two clones of one repo on one Redis ------------------------------------------------------------------


def redis_keys(url: str, project: str) -> set[bytes]:
    """Every key the store holds for ``project`` (values and markers)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return set(client.scan_iter(match=f"fs:{project}:*", count=1000))
    finally:
        client.close()


@pytest.mark.redis
def test_a_clone_on_the_same_redis_never_touches_the_original(tmp_path: Path, redis_url: str) -> None:
    """Same folder name (so the same default project) and the same definitions, so the same data
    fingerprints: only the build ids of their versions tell the two repos' values apart."""
    now = datetime.now(UTC)
    online = f'type = "redis"\nurl = "{redis_url}"\n'
    original = write_repo(tmp_path / "a" / "shop", online, now)
    clone = write_repo(tmp_path / "b" / "shop", online, now)
    try:
        assert original.project == clone.project == "shop"
        mine, theirs = original.state.active("stats"), clone.state.active("stats")
        assert mine is not None
        assert theirs is not None
        assert mine.fingerprint == theirs.fingerprint
        assert mine.namespace != theirs.namespace
        kept = {k for k in redis_keys(redis_url, "shop") if mine.namespace.encode() in k}
        assert len(kept) == N + 2  # the values, the marker and the sweep record (redis_writes.py)
        assert redis_keys(redis_url, "shop") - kept  # the clone's are there too

        # The clone changes the view: a new version, promoted; its old one (same fingerprint as the
        # original's) is deleted.
        write_definitions(clone.root, Defs(ttl_days=2).text())
        assert view_change(clone.apply()) == ("data", "ttl 3d -> 2d")
        (run,) = clone.materialize(end=datetime.now(UTC)).runs
        assert run.promoted
        assert clone.online_store.count_keys(theirs.namespace) == 0
        assert redis_keys(redis_url, "shop") >= kept
        assert clone.teardown() == (N, 1)  # its one version's values, nothing else
        assert redis_keys(redis_url, "shop") == kept

        (status,) = original.status(["stats"])
        assert (status.status, status.keys, status.store, status.problems) == ("active", N, "ok", ())
        response = original.get_online_features([f"stats:{f}" for f in Defs().features], {"driver_id": IDS})
        for feature in Defs().features:
            assert response.statuses()[feature] == ["PRESENT"] * N
            assert response.to_dict()[feature] == [expected(feature, d) for d in IDS]
        (check,) = original.verify(sample=None)
        assert (check.view, check.status, check.entities, check.matches, check.failures) == (
            "stats", "checked", N, N, 0,
        )  # fmt: skip
    finally:
        original.close()
        clone.close()

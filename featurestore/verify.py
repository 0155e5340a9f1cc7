"""Online/offline consistency, measured: online values vs the training set at the watermark.

For each online view with a watermark ``T``, pick entities from its source, read them online as of
``T``, build a training set for entity rows stamped ``T``, and look up the event time of each entity's
offline row at ``T`` (one query per view). Every entity then falls in exactly one class:

* **match**: online and offline agree (both empty counts too).
* **newer online**: the online value's event time is later than ``T``; it was pushed (or written) after
  the watermark, so the training set at ``T`` cannot know it. Not a failure.
* **expired**: the offline row's event time + ttl is before the wall clock, and online has nothing or a
  value expired by the wall clock. The contract says such values are not served: writes skip them, Redis
  deletes them at ``event_ts + ttl``. Not a failure.
* **missing**: offline has a row still valid by the wall clock, online reads ``NOT_FOUND``. A failure.
* **mismatch**: any other difference (a wrong value). A failure.

Per view, a view without a watermark is reported as ``not_materialized`` (not a failure), and one whose
watermark is later than now plus ``[materialize] clock_skew`` as ``future_watermark`` with the command
that repairs it (a failure: its values are pinned); neither is compared.

Verify is handed what it uses (``Collaborators``: registry, engine, renderer, online store, served
versions, state, root): it never sees the ``FeatureStore`` facade, which builds them.

Aggregation views compute float sums, means and standard deviations two ways (running totals offline,
one GROUP BY or merged partial states online), so their floats are compared to a relative 1e-9;
every other value, and every value of a plain view, must be equal.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from featurestore.materialize import select_views, to_naive_utc
from featurestore.plan.build import scan_for, scan_with_pushed
from featurestore.registry.model import RegisteredView, Registry
from featurestore.sql.renderer import ENTITY_TS, ROW_ID, TS

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.online.base import OnlineStore
    from featurestore.registry.state import StateEdit
    from featurestore.retrieve.online import OnlineResponse
    from featurestore.sql.renderer import Renderer
    from featurestore.versions import ServedView

EntityClass = Literal["match", "mismatch", "missing", "expired", "newer_online"]
ViewStatus = Literal["checked", "not_materialized", "future_watermark"]

MAX_EXAMPLES = 5
_tables = itertools.count()


@dataclass(frozen=True)
class Collaborators:
    """What a check reads and runs, handed in by its caller (``FeatureStore.verify`` builds it).

    ``served``: per view, the online versions (``versions.serving``); ``state``: one snapshot of the
    state, read once for the whole check; ``clock_skew``: ``[materialize] clock_skew``.
    """

    registry: Registry
    engine: Engine
    renderer: Renderer
    online: OnlineStore
    served: Mapping[str, ServedView]
    state: StateEdit
    root: Path
    clock_skew: timedelta


@dataclass
class ViewCheck:
    """The classes of one view's sampled entities at its watermark ``at`` (naive UTC).

    ``mismatches`` counts wrong values only; ``failures`` adds the ``missing`` ones. ``fix`` is the
    command that repairs a view that could not be checked.
    """

    view: str
    at: datetime | None
    status: ViewStatus = "checked"
    entities: int = 0
    matches: int = 0
    mismatches: int = 0
    missing: int = 0
    expired: int = 0
    newer_online: int = 0
    fix: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return self.mismatches + self.missing

    @property
    def failure_rate(self) -> float:
        return self.failures / self.entities if self.entities else 0.0

    def count(self, kind: EntityClass) -> None:
        if kind == "match":
            self.matches += 1
        elif kind == "mismatch":
            self.mismatches += 1
        elif kind == "missing":
            self.missing += 1
        elif kind == "expired":
            self.expired += 1
        else:
            self.newer_online += 1

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values; times as ISO 8601 in UTC."""
        return {
            "view": self.view,
            "at": _plain(self.at),
            "status": self.status,
            "entities": self.entities,
            "matches": self.matches,
            "mismatches": self.mismatches,
            "missing": self.missing,
            "expired": self.expired,
            "newer_online": self.newer_online,
            "failures": self.failures,
            "fix": self.fix,
            "examples": _plain(self.examples),
        }


def classify(
    *,
    offline_ts: datetime | None,
    online_ts: datetime | None,
    online_found: bool,
    equal: bool,
    at: datetime,
    now: datetime,
    ttl: timedelta | None,
) -> EntityClass:
    """The class of one entity (see the module docstring); times are naive UTC.

    ``offline_ts``: the event time of the offline row chosen at ``at`` (None: no row); ``online_ts``:
    the event time of the stored value (None: NOT_FOUND); ``equal``: the values agree.

    >>> T, now, day = datetime(2024, 1, 10), datetime(2024, 1, 10, 6), timedelta(days=1)
    >>> old, fresh = T - timedelta(hours=20), T - timedelta(hours=1)
    >>> def kind(off, on, equal=False):
    ...     return classify(offline_ts=off, online_ts=on, online_found=on is not None, equal=equal,
    ...                     at=T, now=now, ttl=day)
    >>> kind(fresh, fresh, True), kind(fresh, fresh), kind(fresh, None), kind(old, None), kind(old, old, True)
    ('match', 'mismatch', 'missing', 'expired', 'expired')
    >>> kind(fresh, T + timedelta(hours=2)), kind(None, None, True)
    ('newer_online', 'match')
    """
    if online_ts is not None and online_ts > at:
        return "newer_online"
    # Online "nothing or expired": Redis has deleted such a value (NOT_FOUND), SQLite keeps it and
    # reads say EXPIRED; both are the contract. An online value older than the offline one is expired
    # by then too.
    gone = not online_found or (online_ts is not None and _expired(online_ts, ttl, now))
    if offline_ts is not None and _expired(offline_ts, ttl, now) and gone:
        return "expired"
    if offline_ts is not None and not online_found:
        return "missing"
    return "match" if equal else "mismatch"


def _expired(event_ts: datetime, ttl: timedelta | None, now: datetime) -> bool:
    # Same bound as reads: a value exactly ttl old is still served.
    return ttl is not None and event_ts + ttl < now


def sample_entities(c: Collaborators, rv: RegisteredView, sample: int | None) -> pa.Table:
    """Distinct entity keys of the view's source, ordered by a hash of the keys (a stable sample).

    Entities whose only rows are later than the watermark are included: nothing offline then, so they
    match unless a newer value was pushed online.
    """
    return c.engine.to_arrow(c.renderer.render_key_sample(scan_for(rv, c.root), sample))


def offline_event_times(
    c: Collaborators, rv: RegisteredView, entities: pa.Table, at: datetime
) -> list[datetime | None]:
    """Per entity (in order), the event time of the row a training set at ``at`` picks, or None.

    The same candidates as the point-in-time join: source and push log, non-null keys and event
    time, ``ts <= at`` and, with a ttl, ``ts >= at - ttl``. One query for all entities; the entities
    and ``at`` go in as a registered Arrow table, never as SQL text.
    """
    import pyarrow as pa

    n = entities.num_rows
    rows = entities.select(list(rv.view.join_keys))
    rows = rows.append_column(ROW_ID, pa.array(range(n), pa.int64()))
    rows = rows.append_column(ENTITY_TS, pa.array([at] * n, pa.timestamp("us")))
    table = f"__verify_entities_{next(_tables)}"
    query = c.renderer.render_offline_event_times(scan_with_pushed(rv, c.root), table, rv.view.ttl)
    c.engine.register(table, rows)
    try:
        result = c.engine.to_arrow(query)
    finally:
        c.engine.unregister(table)
    return [None if t is None else to_naive_utc(t) for t in result.column(TS).to_pylist()]


def check_view(c: Collaborators, rv: RegisteredView, at: datetime, sample: int | None) -> ViewCheck:
    """Classify the sampled entities of one materialized view at its watermark ``at`` (naive UTC)."""
    import pyarrow as pa

    from featurestore.retrieve.training import build_training_set

    check = ViewCheck(view=rv.name, at=at)
    entities = sample_entities(c, rv, sample)
    check.entities = entities.num_rows
    if entities.num_rows == 0:
        return check
    rows = entities.append_column(
        "event_timestamp", pa.array([at] * entities.num_rows, type=pa.timestamp("us"))
    )
    prefix = f"{rv.name}__"
    refs = [f"{rv.name}:{f}" for f in rv.view.feature_names]
    training = build_training_set(c.registry, c.engine, c.root, rows, refs, full_feature_names=True)
    offline = training.to_pylist_rows()
    offline_ts = offline_event_times(c, rv, entities, at)
    response = read_current_version(c, rv, refs, entities, at)
    online = response.to_dict()
    # Every feature of a view shares its entity's stored value, so the first one speaks for all.
    first = prefix + rv.view.feature_names[0]
    statuses = response.statuses()[first]
    online_ts = [None if t is None else to_naive_utc(t) for t in response.event_timestamps()[first]]
    # Taken after the read: a value Redis deleted at event_ts + ttl during the read is then expired
    # by this clock too, so it is never reported as missing.
    now = datetime.now(UTC).replace(tzinfo=None)
    for i, expected in enumerate(offline):
        got = {c[len(prefix) :]: online[c][i] for c in expected if c.startswith(prefix)}
        want = {c[len(prefix) :]: expected[c] for c in expected if c.startswith(prefix)}
        equal = got == want or bool(rv.view.aggregations and close_enough(got, want))
        kind = classify(
            offline_ts=offline_ts[i],
            online_ts=online_ts[i],
            online_found=statuses[i] != "NOT_FOUND",
            equal=equal,
            at=at,
            now=now,
            ttl=rv.view.ttl,
        )
        check.count(kind)
        if kind in ("mismatch", "missing") and len(check.examples) < MAX_EXAMPLES:
            check.examples.append(
                {
                    "kind": kind,
                    "key": {k: expected[k] for k in rv.view.join_keys},
                    "online": got,
                    "offline": want,
                    "online_event_time": online_ts[i],
                    "offline_event_time": offline_ts[i],
                }
            )
    return check


def close_enough(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """Equal, except floats that agree to a relative (or absolute) 1e-9.

    >>> close_enough({"a": 0.1 + 0.2, "b": 1}, {"a": 0.3, "b": 1}), close_enough({"a": 1.0}, {"a": None})
    (True, False)
    """
    import math

    for name, value in want.items():
        other = got.get(name)
        if isinstance(value, float) and isinstance(other, float):
            if not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9):
                return False
        elif value != other:
            return False
    return got.keys() == want.keys()


def read_current_version(
    c: Collaborators, rv: RegisteredView, refs: list[str], entities: pa.Table, at: datetime
) -> OnlineResponse:
    """The online values of the version holding the applied definition (pending or active): what
    serves once it is promoted, checked against the same definition offline."""
    from featurestore.retrieve.online import compile_request, read_online
    from featurestore.versions import ServedView

    current = {rv.name: ServedView(c.served[rv.name].current)}
    request = compile_request(c.registry, refs, True, current)
    keys = {k: entities.column(k).to_pylist() for k in rv.view.join_keys}
    return read_online(c.online, request, keys, now=at)


def _watermark(c: Collaborators, rv: RegisteredView) -> datetime | None:
    """The event time up to which the version holding the applied definition is materialized, or None."""
    from featurestore.versions import current_record

    record = current_record(c.state, c.registry.project, rv)
    return None if record is None or record.watermark is None else record.watermark.event_time


def verify(c: Collaborators, sample: int | None, views: list[str] | None = None) -> list[ViewCheck]:
    """Check every online view (or the named ones) at its watermark; one :class:`ViewCheck` per view."""
    now = datetime.now(UTC).replace(tzinfo=None)
    checks = []
    for rv in select_views(c.registry, views or None):
        mark = _watermark(c, rv)
        if mark is None:
            fix = f"featurestore materialize --view {rv.name}"
            checks.append(ViewCheck(view=rv.name, at=None, status="not_materialized", fix=fix))
            continue
        at = to_naive_utc(mark)
        if at > now + c.clock_skew:
            # Rows stamped between now and the watermark have not happened yet; incremental runs will
            # skip them when they land, so comparing at this watermark would vouch for nothing.
            fix = f"featurestore materialize --overwrite --end now --view {rv.name}"
            checks.append(ViewCheck(view=rv.name, at=at, status="future_watermark", fix=fix))
            continue
        checks.append(check_view(c, rv, at, sample))
    return checks


def _plain(value: Any) -> Any:
    """``value`` with times as ISO 8601 (naive ones are UTC) and bytes as hex, for JSON."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

"""Runtime state beside the registry (never inside it): every online version of every view.

A view's **version** is one namespace in the online store, ``<project>:<view>:<fingerprint>-<build>``:
the data fingerprint of the definition it holds, and a random build id, so two repos (or two clones of
one repo) sharing a Redis never write, read or delete each other's values. The state records, per
version:

* its status: ``pending`` (applied, being materialized, not served), ``active`` (served; at most one per
  view) or ``retired`` (replaced or removed; its namespace is deleted, then the record is dropped);
* the definition it holds (the registered view as JSON), so reads keep using an active version's
  features and ttl while a changed definition is materialized;
* its watermark: the event time up to which every source row has been written, and the greatest created
  time seen (rows that land later with an older event time are still picked up). It advances only after
  a run has written the whole view;
* the runs writing it right now (process id, host, start), so a namespace is only forgotten once no
  writer can add to it any more.

It also keeps the history of completed runs (``RunRecord``), capped per view.

``StateStore`` holds what every storage shares (the records, the queries over them); a backend
(``registry/backend.py``: files, SQLite, PostgreSQL) supplies ``edit`` (an exclusive, atomic,
all-or-nothing read-modify-write, so concurrent jobs never lose an update and a switch of the active
version is one write), ``snapshot``, ``stamp`` and ``runs``.
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from featurestore.registry.json_shape import Fields, ShapeError, items, objects

Status = Literal["pending", "active", "retired"]
_STATUSES: dict[str, Status] = {"pending": "pending", "active": "active", "retired": "retired"}
WRITER_LEASE = timedelta(hours=24)
"""A writer on another host that has not finished after this long is taken for dead."""


def utcnow() -> datetime:
    """The wall clock as naive UTC (the state's time zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Watermark:
    """How far one version has been materialized."""

    version: str
    event_time: datetime  # every row with event time <= this has been written
    created_time: datetime | None  # greatest created time among the rows that run considered
    updated_at: datetime
    entities_written: int

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "event_time": _iso(self.event_time),
            "created_time": _iso(self.created_time),
            "updated_at": _iso(self.updated_at),
            "entities_written": self.entities_written,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "watermark") -> Watermark:
        """Read a watermark; ``ShapeError`` naming ``where`` (its place in the file) if it is malformed."""
        fields = Fields(data, where)
        return cls(
            version=fields.text("version"),
            event_time=fields.time("event_time"),
            created_time=fields.optional_time("created_time"),
            updated_at=fields.time("updated_at"),
            entities_written=fields.integer("entities_written", 0),
        )


@dataclass(frozen=True)
class Writer:
    """A run writing a version right now."""

    pid: int
    host: str
    since: datetime

    @classmethod
    def this_process(cls) -> Writer:
        return cls(os.getpid(), socket.gethostname(), utcnow())

    def alive(self) -> bool:
        """On this host: the process exists. Elsewhere: it started less than ``WRITER_LEASE`` ago."""
        if self.host != socket.gethostname():
            return utcnow() - self.since < WRITER_LEASE
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by someone else
            return True
        return True


@dataclass(frozen=True)
class ViewVersion:
    """One online version of one view (see the module docstring)."""

    view: str
    version: str
    project: str
    fingerprint: str
    status: Status
    created_at: datetime
    definition: dict[str, Any] | None = None
    """The registered view this version holds, as JSON (``None`` for records upgraded from an old state)."""
    watermark: Watermark | None = None
    promoted_at: datetime | None = None
    retired_at: datetime | None = None
    writers: tuple[Writer, ...] = ()
    rebuild: bool = False
    """A rewrite of the active version as of an earlier time (``materialize --overwrite``): promoted when
    its run completes, whatever its watermark."""

    @property
    def namespace(self) -> str:
        return f"{self.project}:{self.view}:{self.version}"

    @property
    def short(self) -> str:
        """The version for people: fingerprint prefix and build."""
        fingerprint, _, build = self.version.partition("-")
        return f"{fingerprint[:8]}-{build}" if build else fingerprint[:8]

    def live_writers(self) -> tuple[Writer, ...]:
        return tuple(w for w in self.writers if w.alive())

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "version": self.version,
            "project": self.project,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "definition": self.definition,
            "watermark": None if self.watermark is None else self.watermark.to_json(),
            "promoted_at": _iso(self.promoted_at),
            "retired_at": _iso(self.retired_at),
            "writers": [{"pid": w.pid, "host": w.host, "since": _iso(w.since)} for w in self.writers],
            "rebuild": self.rebuild,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "version") -> ViewVersion:
        """Read a version record; ``ShapeError`` naming ``where`` (its place in the file) if it is
        malformed."""
        fields = Fields(data, where)
        text = fields.text("status")
        if text not in _STATUSES:
            raise ShapeError(f"{where}: 'status' is {text[:40]!r}, not one of pending, active, retired")
        status: Status = _STATUSES[text]
        definition = fields.raw("definition", None)
        if definition is not None:
            objects(definition, fields.child("definition"))
        mark = fields.raw("watermark", None)
        writers = []
        for i, raw in enumerate(items(fields.raw("writers", []), fields.child("writers"))):
            writer = Fields(raw, f"{fields.child('writers')}[{i}]")
            writers.append(Writer(writer.integer("pid"), writer.text("host"), writer.time("since")))
        return cls(
            view=fields.text("view"),
            version=fields.text("version"),
            project=fields.text("project"),
            fingerprint=fields.text("fingerprint"),
            status=status,
            created_at=fields.time("created_at"),
            definition=definition,
            watermark=None if mark is None else Watermark.from_json(mark, fields.child("watermark")),
            promoted_at=fields.optional_time("promoted_at"),
            retired_at=fields.optional_time("retired_at"),
            writers=tuple(writers),
            rebuild=fields.flag("rebuild", False),
        )


@dataclass(frozen=True)
class RunRecord:
    """One finished materialization run of one version, kept in the run history."""

    view: str
    version: str
    started: datetime
    finished: datetime
    rows_read: int | None
    rows_written: int
    watermark: datetime | None
    outcome: str
    """``complete``, ``promoted`` (it made its version the served one), ``orphaned`` (its version was
    retired meanwhile) or ``failed``."""
    run: int | None = None
    """The run's number, unique in the project and increasing (given when the run is recorded; None
    for runs recorded before runs had numbers)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "view": self.view,
            "version": self.version,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "watermark": _iso(self.watermark),
            "outcome": self.outcome,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "run") -> RunRecord:
        """Read a run; ``ShapeError`` naming ``where`` if it is malformed."""
        fields = Fields(data, where)
        read = fields.raw("rows_read", None)
        if read is not None and (isinstance(read, bool) or not isinstance(read, int)):
            raise ShapeError(f"{where}: 'rows_read' is {read!r}, not a whole number")
        return cls(
            view=fields.text("view"),
            version=fields.text("version"),
            started=fields.time("started"),
            finished=fields.time("finished"),
            rows_read=read,
            rows_written=fields.integer("rows_written", 0),
            watermark=fields.optional_time("watermark"),
            outcome=fields.text("outcome"),
            run=_run_number(fields.raw("run", None), where),
        )


def _run_number(value: Any, where: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ShapeError(f"{where}: 'run' is {value!r}, not a whole number")
    return value


@dataclass
class StateEdit:
    """The records inside one locked read-modify-write of the state file."""

    records: dict[str, dict[str, ViewVersion]] = field(default_factory=dict)
    new_runs: list[RunRecord] = field(default_factory=list)
    """Runs completed inside this edit, recorded with it (and the history capped) when it ends."""
    new_profiles: dict[int, dict[str, Any]] = field(default_factory=dict)
    """The feature statistics of some of ``new_runs`` (by index): a ``stats.Profiles`` document each,
    stored with its run and removed with it when the history is capped."""
    numbers: list[int] = field(default_factory=list)
    """The numbers the backend gave ``new_runs`` when it stored the edit (filled as it ends)."""

    def versions(self, view: str | None = None) -> list[ViewVersion]:
        """The records of one view (or of all), oldest first."""
        groups = [self.records.get(view, {})] if view is not None else list(self.records.values())
        return sorted((r for g in groups for r in g.values()), key=lambda r: (r.view, r.created_at))

    def get(self, view: str, version: str) -> ViewVersion | None:
        return self.records.get(view, {}).get(version)

    def active(self, view: str) -> ViewVersion | None:
        return next((r for r in self.versions(view) if r.status == "active"), None)

    def put(self, record: ViewVersion) -> None:
        self.records.setdefault(record.view, {})[record.version] = record

    def drop(self, view: str, version: str) -> None:
        group = self.records.get(view, {})
        group.pop(version, None)
        if not group:
            self.records.pop(view, None)

    def record_run(self, run: RunRecord, profiles: dict[str, Any] | None = None) -> None:
        """Record a run (its number is given when the edit is stored), with its statistics if any."""
        if profiles is not None:
            self.new_profiles[len(self.new_runs)] = profiles
        self.new_runs.append(run)

    def retire(self, record: ViewVersion) -> ViewVersion:
        retired = replace(record, status="retired", retired_at=utcnow())
        self.put(retired)
        return retired

    def promote(self, record: ViewVersion) -> ViewVersion | None:
        """Make ``record`` the active version; the previous one is retired (and returned)."""
        previous = self.active(record.view)
        if previous is not None and previous.version != record.version:
            self.retire(previous)
        else:
            previous = None
        self.put(replace(record, status="active", promoted_at=utcnow(), rebuild=False))
        return previous


class StateStore(ABC):
    """The runtime state of one project; a backend supplies the storage, the queries are shared."""

    history: int = 100
    """How many completed runs are kept per view."""

    @abstractmethod
    def edit(self) -> AbstractContextManager[StateEdit]:
        """A read-modify-write under an exclusive lock: what the block leaves in the ``StateEdit`` is
        stored when it ends, all or nothing (an exception inside leaves the previous state)."""

    @abstractmethod
    def snapshot(self) -> StateEdit:
        """The records as they are now (no lock: a reader sees one whole state)."""

    @abstractmethod
    def stamp(self) -> int | None:
        """A value that changes with every edit, cheap to read, to notice a change (None: no state)."""

    @abstractmethod
    def runs(self, view: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Completed runs (of one view, or of all), newest first."""

    @abstractmethod
    def run_profiles(self, view: str, run: int | None = None) -> tuple[RunRecord, dict[str, Any]] | None:
        """A run of ``view`` and its feature statistics (a ``stats.Profiles`` document): run number
        ``run``, or the newest run that has statistics; None when there is none (or it was capped)."""

    def versions(self, view: str | None = None) -> list[ViewVersion]:
        return self.snapshot().versions(view)

    def active(self, view: str) -> ViewVersion | None:
        return self.snapshot().active(view)

    def watermark(self, view: str, version: str) -> Watermark | None:
        """The watermark of one version (or of the served version of one data fingerprint), or None if
        it never completed a run."""
        edit = self.snapshot()
        record = edit.get(view, version)
        if record is None:
            candidates = [r for r in edit.versions(view) if r.fingerprint == version]
            candidates = sorted(
                (r for r in candidates if r.status != "retired"), key=lambda r: r.status != "active"
            )
            record = candidates[0] if candidates else None
        return None if record is None else record.watermark

    def watermarks(self) -> dict[str, Watermark]:
        """The watermark of every view's active version (views never fully materialized are left out)."""
        edit = self.snapshot()
        out = {}
        for view in edit.records:
            active = edit.active(view)
            if active is not None and active.watermark is not None:
                out[view] = active.watermark
        return out


def cap_runs(runs: list[RunRecord], history: int) -> list[RunRecord]:
    """The newest ``history`` runs of each view (``runs`` oldest first), in the same order.

    >>> t = datetime(2026, 1, 1)
    >>> runs = [RunRecord("v", "x", t, t + timedelta(seconds=i), 0, 0, None, "complete") for i in range(3)]
    >>> [r.finished.second for r in cap_runs(runs, 2)]
    [1, 2]
    """
    seen: dict[str, int] = {}
    kept = []
    for run in reversed(runs):
        seen[run.view] = seen.get(run.view, 0) + 1
        if seen[run.view] <= history:
            kept.append(run)
    return kept[::-1]

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

The file is replaced atomically under an exclusive lock (``edit``), so concurrent jobs never lose an
update and a switch of the active version is one write. State files of the first format (watermarks and
namespace lists per view) are upgraded on read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from featurestore.config import STATE_DIR
from featurestore.errors import RegistryError
from featurestore.registry.json_shape import Fields, ShapeError, items, kind, objects
from featurestore.registry.storage import write_atomic

STATE_FILE = "state.json"
STATE_LOCK = "state.lock"
STATE_FORMAT = 2

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


@dataclass
class StateEdit:
    """The records inside one locked read-modify-write of the state file."""

    records: dict[str, dict[str, ViewVersion]] = field(default_factory=dict)

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


class StateStore:
    """The state of one repo, in ``.featurestore/state.json``."""

    def __init__(self, root: Path) -> None:
        self.folder = root / STATE_DIR
        self.path = self.folder / STATE_FILE

    def _read(self) -> StateEdit:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return StateEdit()
        except OSError as exc:
            raise RegistryError(f"{self.path} is unreadable ({exc}); check its permissions") from None
        try:
            return self._parse(raw)
        except ShapeError as exc:
            raise RegistryError(
                f"{self.path} is not a valid state file ({exc}). Move it aside and run `featurestore "
                "materialize` to rebuild the online versions from scratch"
            ) from None

    def _parse(self, raw: bytes) -> StateEdit:
        """The records of a state file; ``ShapeError`` saying what is wrong where, for anything else."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ShapeError(f"byte {exc.start} is not UTF-8") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ShapeError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        top = Fields(data, "")
        version = top.raw("format", 1)
        if version == 1:
            return _upgrade(top, self._legacy_project())
        if isinstance(version, bool) or not isinstance(version, int):
            raise ShapeError(f"format {version!r} is not a state format this featurestore reads (1 or 2)")
        if version > STATE_FORMAT:
            # Reading it as empty would drop every record at the next write.
            raise ShapeError(
                f"format {version} is newer than this featurestore reads ({STATE_FORMAT}): it was written by "
                "a newer featurestore; upgrade featurestore to read it"
            )
        edit = StateEdit()
        for view, group in objects(top.raw("views", {}), "views").items():
            for version_id, data in objects(group, f"views.{view}").items():
                where = f"views.{view}.{version_id}"
                record = ViewVersion.from_json(data, where)
                if (record.view, record.version) != (view, version_id):
                    raise ShapeError(
                        f"{where}: the record is of view {record.view!r}, version {record.version!r}, but is "
                        f"filed under view {view!r}, version {version_id!r}"
                    )
                edit.put(record)
        return edit

    @contextlib.contextmanager
    def edit(self) -> Iterator[StateEdit]:
        """A read-modify-write under an exclusive lock; the file is replaced when the block ends."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / STATE_LOCK, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                edit = self._read()
                yield edit
                views = {
                    view: {v: r.to_json() for v, r in sorted(group.items())}
                    for view, group in sorted(edit.records.items())
                }
                body = {"format": STATE_FORMAT, "views": views}
                write_atomic(self.path, json.dumps(body, indent=1, sort_keys=True).encode())
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _legacy_project(self) -> str:
        """The project that named a first-format state's namespaces: the applied registry's."""
        try:
            project = json.loads((self.folder / "registry.json").read_text()).get("project")
        except (OSError, ValueError, AttributeError):
            project = None
        return project if isinstance(project, str) else "default"

    def snapshot(self) -> StateEdit:
        """The records as they are now (read without the lock: the file is always whole)."""
        return self._read()

    def stamp(self) -> int | None:
        """The state file's modification time, to notice a change cheaply."""
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None

    def versions(self, view: str | None = None) -> list[ViewVersion]:
        return self._read().versions(view)

    def active(self, view: str) -> ViewVersion | None:
        return self._read().active(view)

    def watermark(self, view: str, version: str) -> Watermark | None:
        """The watermark of one version (or of the served version of one data fingerprint), or None if
        it never completed a run."""
        edit = self._read()
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
        edit = self._read()
        out = {}
        for view in edit.records:
            active = edit.active(view)
            if active is not None and active.watermark is not None:
                out[view] = active.watermark
        return out


def _upgrade(top: Fields, project: str) -> StateEdit:
    """A first-format state (``watermarks`` and ``namespaces`` per view, versions = bare fingerprints):
    the watermarked version becomes active, every other recorded namespace retired."""
    edit = StateEdit()
    now = utcnow()
    marks = objects(top.raw("watermarks", {}), "watermarks")
    for view, versions in objects(top.raw("namespaces", {}), "namespaces").items():
        for i, version in enumerate(items(versions, f"namespaces.{view}")):
            if not isinstance(version, str):
                raise ShapeError(f"namespaces.{view}[{i}] is {kind(version)}, not a string")
            edit.put(ViewVersion(view, version, project, version, "retired", now, retired_at=now))
    for view, raw in marks.items():
        mark = Watermark.from_json(raw, f"watermarks.{view}")
        edit.put(ViewVersion(view, mark.version, project, mark.version, "active", now, watermark=mark))
    return edit

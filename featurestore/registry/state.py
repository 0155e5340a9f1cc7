"""Runtime state beside the registry (never inside it): materialization watermarks per view.

A watermark records, for one view version, the event time up to which every source row has been
written to the online store, and the greatest created time seen by that run (so rows that land
later with an older event time are still picked up). It advances only after a view is fully
written. The file is replaced atomically under a lock, so concurrent jobs never lose an update.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from featurestore.config import STATE_DIR
from featurestore.errors import RegistryError
from featurestore.registry.storage import write_atomic

STATE_FILE = "state.json"
STATE_LOCK = "state.lock"


@dataclass(frozen=True)
class Watermark:
    """How far one view version has been materialized."""

    version: str
    event_time: datetime  # every row with event time <= this has been written
    created_time: datetime | None  # greatest created time among the rows that run considered
    updated_at: datetime
    entities_written: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("event_time", "created_time", "updated_at"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Watermark:
        created = data.get("created_time")
        return cls(
            version=str(data["version"]),
            event_time=datetime.fromisoformat(data["event_time"]),
            created_time=datetime.fromisoformat(created) if created else None,
            updated_at=datetime.fromisoformat(data["updated_at"]),
            entities_written=int(data.get("entities_written", 0)),
        )


class StateStore:
    """Watermarks and the online namespaces each view has written, in ``.featurestore/state.json``."""

    def __init__(self, root: Path) -> None:
        self.folder = root / STATE_DIR
        self.path = self.folder / STATE_FILE

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"watermarks": {}, "namespaces": {}}
        except (OSError, json.JSONDecodeError) as exc:
            raise RegistryError(
                f"{self.path} is unreadable ({exc}); delete it to re-materialize from scratch"
            ) from None
        data.setdefault("watermarks", {})
        data.setdefault("namespaces", {})
        return data

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / STATE_LOCK, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                data = self._read()
                yield data
                write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True).encode())
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def watermark(self, view: str, version: str) -> Watermark | None:
        """The view's watermark, or None if this version was never fully materialized."""
        raw = self._read()["watermarks"].get(view)
        if raw is None:
            return None
        mark = Watermark.from_json(raw)
        return mark if mark.version == version else None

    def watermarks(self) -> dict[str, Watermark]:
        return {k: Watermark.from_json(v) for k, v in self._read()["watermarks"].items()}

    def advance(self, view: str, mark: Watermark) -> None:
        """Record a completed run; never moves a watermark of the same version backwards."""
        with self._update() as data:
            current = data["watermarks"].get(view)
            if current is not None:
                old = Watermark.from_json(current)
                if old.version == mark.version and old.event_time > mark.event_time:
                    mark = Watermark(
                        version=mark.version,
                        event_time=old.event_time,
                        created_time=_max(old.created_time, mark.created_time),
                        updated_at=mark.updated_at,
                        entities_written=mark.entities_written,
                    )
            data["watermarks"][view] = mark.to_json()

    def note_namespace(self, view: str, version: str) -> None:
        """Remember that ``view`` wrote ``version`` online, so apply can clean it up later."""
        with self._update() as data:
            versions = data["namespaces"].setdefault(view, [])
            if version not in versions:
                versions.append(version)

    def namespaces(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self._read()["namespaces"].items()}

    def forget_namespaces(self, view: str, keep: str | None) -> None:
        with self._update() as data:
            if keep is None:
                data["namespaces"].pop(view, None)
                data["watermarks"].pop(view, None)
            else:
                data["namespaces"][view] = [keep] if keep in data["namespaces"].get(view, []) else []


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)

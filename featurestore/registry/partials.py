"""Partial aggregates of lifetime aggregations, kept in the repo's storage so materialization never re-reads
a view's whole history.

One Parquet file per view version holds, per entity, the partial state of every lifetime aggregate over
the events with ``ts <= as_of`` (see ``sql/window_latest.py``). ``pointer.json`` names the current file,
its ``as_of`` and ``created_mark`` (the greatest created time it has seen, so rows created later are
known to be late arrivals). A run writes a new file under a fresh name, and switches the pointer (one
atomic write: a rename locally, one PUT on S3) only after its online writes and watermark: a run killed
part-way leaves the old pointer, which is still exact. Files no pointer names (left by killed runs) are
removed once older than ``ORPHAN_AGE_S``, by listing, locally and on S3 alike.

    aggregates/<view>/pointer.json                 (under [storage] url; by default .featurestore/)
    aggregates/<view>/<version>-<run id>.parquet
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featurestore.engines.base import Engine
    from featurestore.storage import Storage

PARTIALS_DIR = "aggregates"
POINTER = "pointer.json"
ORPHAN_AGE_S = 3600.0  # files no pointer names, left by killed runs, are removed after this long


@dataclass(frozen=True)
class LifetimePartials:
    """Partial aggregates of a view's lifetime aggregates, taken over the events with ``ts <= as_of``
    (and, for a source with a created time, ``created <= created_mark``), stored at ``path`` (the URI the
    engine reads: a local path or ``s3://...``)."""

    path: str
    as_of: datetime
    created_mark: datetime | None


class PartialStore:
    """Where one repo keeps the lifetime partial aggregates of its aggregation views: its ``Storage``,
    or given a repo root, that repo's (``storage_for``)."""

    def __init__(self, storage: Storage | Path) -> None:
        if isinstance(storage, Path):
            from featurestore.storage import storage_for

            storage = storage_for(storage)
        self.storage = storage

    def _key(self, view: str, name: str = "") -> str:
        return f"{PARTIALS_DIR}/{view}/{name}" if name else f"{PARTIALS_DIR}/{view}"

    def _key_of(self, uri: str | Path) -> str:
        """The storage key of a partials file given by the URI ``new_file`` returned."""
        return str(uri).removeprefix(self.storage.uri("")).lstrip("/")

    def current(self, view: str, version: str, *, nanoseconds: bool = False) -> LifetimePartials | None:
        """The partials the last completed run left for this version of ``view``, if any.

        ``nanoseconds``: the view's source has nanosecond times (``sql/duckdb.py::exact_times``). Its
        states must then have been taken with those times compared exactly: states taken when they
        were truncated to microseconds may already hold an event just after ``as_of``, which the next
        run would count again, and keep ``last`` in another layout. Such states are not reused: the
        run rebuilds them from the source, as a first run does."""
        try:
            data = json.loads(self.storage.read_bytes(self._key(view, POINTER)))
        except (OSError, ValueError):
            return None
        key = self._key(view, str(data.get("file", "")))
        exact = bool(data.get("nanoseconds", False)) == nanoseconds
        if data.get("version") != version or not exact or not data.get("file"):
            return None
        if not self.storage.exists(key):
            return None
        mark = data.get("created_mark")
        return LifetimePartials(
            path=self.storage.uri(key),
            as_of=datetime.fromisoformat(data["as_of"]),
            created_mark=datetime.fromisoformat(mark) if mark else None,
        )

    def new_file(self, view: str, version: str) -> str:
        """The URI of a fresh file for a run's partials (nothing reads it until ``commit``)."""
        return self.storage.uri(self._key(view, f"{version}-{uuid.uuid4().hex[:12]}.parquet"))

    def write(self, engine: Engine, sql: str, uri: str) -> None:
        """Run ``sql`` and store its result as the partials file ``uri`` (from ``new_file``): written by
        the engine in place locally; on S3 written to a local temporary file, then uploaded whole."""
        if self.storage.is_local:
            path = Path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            engine.to_parquet(sql, path)
            return
        with tempfile.TemporaryDirectory(prefix="featurestore-partials-") as folder:
            local = Path(folder) / "partials.parquet"
            engine.to_parquet(sql, local)
            self.storage.put_file(self._key_of(uri), local)

    def commit(
        self, view: str, version: str, partials: LifetimePartials, *, nanoseconds: bool = False
    ) -> None:
        """Make ``partials`` the current ones; remove the file they replace and old orphans.
        ``nanoseconds``: as for ``current``."""
        previous = self.current(view, version, nanoseconds=nanoseconds)
        name = partials.path.rsplit("/", 1)[-1]
        pointer = {
            "version": version,
            "file": name,
            "as_of": partials.as_of.isoformat(),
            "created_mark": None if partials.created_mark is None else partials.created_mark.isoformat(),
            "nanoseconds": nanoseconds,
        }
        self.storage.write_bytes(self._key(view, POINTER), json.dumps(pointer, indent=1).encode())
        replaced = None if previous is None else self._key_of(previous.path)
        now = time.time()
        for stored in self.storage.list(self._key(view)):
            if not stored.key.endswith(".parquet") or stored.key == self._key(view, name):
                continue
            if stored.key == replaced or now - stored.modified > ORPHAN_AGE_S:
                self.storage.delete(stored.key)

    def discard(self, uri: str | Path) -> None:
        """Remove a run's file that was never committed (the run failed)."""
        self.storage.delete(self._key_of(uri))

    def views(self) -> list[str]:
        """The views that have partial states."""
        return sorted({o.key.split("/")[1] for o in self.storage.list(PARTIALS_DIR) if o.key.count("/") >= 2})

    def remove(self, view: str) -> None:
        """Forget every partial state of ``view`` (teardown): the next run rebuilds them from the source."""
        self.storage.delete_prefix(self._key(view))

"""Partial aggregates of lifetime aggregations, kept beside the registry so materialization never re-reads
a view's whole history.

One Parquet file per view version holds, per entity, the partial state of every lifetime aggregate over
the events with ``ts <= as_of`` (see ``sql/window_latest.py``). ``pointer.json`` names the current file,
its ``as_of`` and ``created_mark`` (the greatest created time it has seen, so rows created later are
known to be late arrivals). A run writes a new file under a fresh name, and switches the pointer (atomic
rename) only after its online writes and watermark: a run killed part-way leaves the old pointer, which is
still exact.

    .featurestore/aggregates/<view>/pointer.json
    .featurestore/aggregates/<view>/<version>-<run id>.parquet
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from featurestore.config import STATE_DIR
from featurestore.registry.storage import write_atomic

PARTIALS_DIR = "aggregates"
POINTER = "pointer.json"
ORPHAN_AGE_S = 3600.0  # files no pointer names, left by killed runs, are removed after this long


@dataclass(frozen=True)
class LifetimePartials:
    """Partial aggregates of a view's lifetime aggregates, taken over the events with ``ts <= as_of``
    (and, for a source with a created time, ``created <= created_mark``), stored in ``path``."""

    path: str
    as_of: datetime
    created_mark: datetime | None


class PartialStore:
    """Where one repo keeps the lifetime partial aggregates of its aggregation views."""

    def __init__(self, root: Path) -> None:
        self.folder = root / STATE_DIR / PARTIALS_DIR

    def current(self, view: str, version: str, *, nanoseconds: bool = False) -> LifetimePartials | None:
        """The partials the last completed run left for this version of ``view``, if any.

        ``nanoseconds``: the view's source has nanosecond times (``sql/duckdb.py::exact_times``). Its
        states must then have been taken with those times compared exactly: states taken when they
        were truncated to microseconds may already hold an event just after ``as_of``, which the next
        run would count again, and keep ``last`` in another layout. Such states are not reused: the
        run rebuilds them from the source, as a first run does."""
        try:
            data = json.loads((self.folder / view / POINTER).read_text())
        except (OSError, ValueError):
            return None
        path = self.folder / view / str(data.get("file", ""))
        exact = bool(data.get("nanoseconds", False)) == nanoseconds
        if data.get("version") != version or not exact or not path.is_file():
            return None
        mark = data.get("created_mark")
        return LifetimePartials(
            path=str(path),
            as_of=datetime.fromisoformat(data["as_of"]),
            created_mark=datetime.fromisoformat(mark) if mark else None,
        )

    def new_file(self, view: str, version: str) -> Path:
        """A fresh file name for a run's partials (nothing reads it until ``commit``)."""
        folder = self.folder / view
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{version}-{uuid.uuid4().hex[:12]}.parquet"

    def commit(
        self, view: str, version: str, partials: LifetimePartials, *, nanoseconds: bool = False
    ) -> None:
        """Make ``partials`` the current ones; remove the file they replace and old orphans.
        ``nanoseconds``: as for ``current``."""
        folder = self.folder / view
        previous = self.current(view, version, nanoseconds=nanoseconds)
        pointer = {
            "version": version,
            "file": Path(partials.path).name,
            "as_of": partials.as_of.isoformat(),
            "created_mark": None if partials.created_mark is None else partials.created_mark.isoformat(),
            "nanoseconds": nanoseconds,
        }
        write_atomic(folder / POINTER, json.dumps(pointer, indent=1).encode())
        keep = {Path(partials.path).name}
        now = time.time()
        for path in folder.glob("*.parquet"):
            if path.name in keep:
                continue
            replaced = previous is not None and path == Path(previous.path)
            if replaced or now - path.stat().st_mtime > ORPHAN_AGE_S:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def discard(self, path: Path) -> None:
        """Remove a run's file that was never committed (the run failed)."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def remove(self, view: str) -> None:
        """Forget every partial state of ``view`` (teardown): the next run rebuilds them from the source."""
        import shutil

        shutil.rmtree(self.folder / view, ignore_errors=True)

"""The default backend: ``.featurestore/registry.json`` and ``.featurestore/state.json`` under the repo.

Each file is replaced atomically (temp file, fsync, rename) under an exclusive ``flock``: the registry
under ``registry.lock`` (its version, a count of applies, kept in the file beside the content), the
state under ``state.lock``. Only the current registry is kept (an unreadable one is kept aside when
apply replaces it); the run history is a capped list in ``state.json``. State files of the first format
(watermarks and namespace lists per view) are upgraded on read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from featurestore.config import STATE_DIR
from featurestore.errors import RegistryError
from featurestore.registry.backend import AppliedVersion, RegistryBackend, WriteResult, conflict
from featurestore.registry.json_shape import Fields, ShapeError, items, kind, objects
from featurestore.registry.model import Registry
from featurestore.registry.state import RunRecord, StateEdit, ViewVersion, Watermark, cap_runs, utcnow
from featurestore.registry.storage import (
    keep_unreadable_registry,
    read_registry_file,
    registry_lock,
    registry_path,
    write_atomic,
    write_registry,
)

STATE_FILE = "state.json"
STATE_LOCK = "state.lock"
STATE_FORMAT = 2
PROFILES_DIR = "profiles"
"""Feature statistics of runs: ``profiles/<view>/<run>.json`` beside the state file."""


class FilesBackend(RegistryBackend):
    """The registry and state of one repo, in files under ``root/.featurestore``."""

    kind = "files"

    def __init__(self, root: Path, history: int = 100) -> None:
        self.root = root
        self.folder = root / STATE_DIR
        self.path = self.folder / STATE_FILE
        self.history = history
        self.where = str(registry_path(root))

    # -- registry ---------------------------------------------------------------------------------

    def read(self) -> tuple[Registry | None, int, str | None]:
        registry, version, problem = read_registry_file(self.root)
        return registry, (0 if registry is None and problem is None else version), problem

    def write(
        self,
        registry: Registry | None,
        expected_version: int,
        sync: Callable[[StateEdit], None] | None = None,
    ) -> WriteResult:
        with registry_lock(self.root):
            _, version, problem = self.read()
            if version != expected_version:
                raise conflict(expected_version, version, self._applied(version))
            warnings = []
            # Under the state lock: a run starting now sees both the new registry and its versions.
            with self.edit() as edit:
                if sync is not None:
                    sync(edit)
                if registry is not None:
                    if problem is not None:
                        warnings.append(keep_unreadable_registry(self.root, problem))
                    version += 1
                    write_registry(self.root, registry, version)
        return WriteResult(version, tuple(warnings))

    def _applied(self, version: int) -> AppliedVersion | None:
        try:
            at = datetime.fromtimestamp(os.stat(self.where).st_mtime)
        except OSError:
            return None
        return AppliedVersion(version, at, None)

    def registry_stamp(self) -> int | None:
        try:
            return os.stat(self.where).st_mtime_ns
        except FileNotFoundError:
            return None

    def history_versions(self) -> list[AppliedVersion]:
        _, version, _ = self.read()
        found = self._applied(version)
        return [found] if version and found is not None else []

    # -- state ------------------------------------------------------------------------------------

    def _read(self) -> tuple[StateEdit, list[RunRecord]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return StateEdit(), []
        except OSError as exc:
            raise RegistryError(f"{self.path} is unreadable ({exc}); check its permissions") from None
        try:
            return self._parse(raw)
        except ShapeError as exc:
            raise RegistryError(
                f"{self.path} is not a valid state file ({exc}). Move it aside and run `featurestore "
                "materialize` to rebuild the online versions from scratch"
            ) from None

    def _parse(self, raw: bytes) -> tuple[StateEdit, list[RunRecord]]:
        """The records and runs of a state file; ``ShapeError`` saying what is wrong where."""
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
            return _upgrade(top, self._legacy_project()), []
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
        runs = [
            RunRecord.from_json(run, f"runs[{i}]") for i, run in enumerate(items(top.raw("runs", []), "runs"))
        ]
        return edit, runs

    @contextlib.contextmanager
    def edit(self) -> Iterator[StateEdit]:
        """A read-modify-write under an exclusive lock; the file is replaced when the block ends."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / STATE_LOCK, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                edit, runs = self._read()
                yield edit
                views = {
                    view: {v: r.to_json() for v, r in sorted(group.items())}
                    for view, group in sorted(edit.records.items())
                }
                body: dict[str, Any] = {"format": STATE_FORMAT, "views": views}
                new_runs = self._number(runs, edit)
                kept = cap_runs([*runs, *new_runs], self.history)
                if kept:
                    body["runs"] = [r.to_json() for r in kept]
                write_atomic(self.path, json.dumps(body, indent=1, sort_keys=True).encode())
                self._drop_profiles({r.view for r in new_runs}, kept)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _number(self, runs: list[RunRecord], edit: StateEdit) -> list[RunRecord]:
        """The edit's new runs with their numbers (after the greatest recorded); their statistics are
        written first, so a state that names a run's statistics always has them."""
        last = max((r.run or 0 for r in runs), default=0)
        numbered = []
        for i, run in enumerate(edit.new_runs):
            last += 1
            numbered.append(replace(run, run=last))
            edit.numbers.append(last)
            document = edit.new_profiles.get(i)
            if document is not None:
                path = self._profile_path(run.view, last)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, json.dumps({**document, "run": last}).encode())
        return numbered

    def _profile_path(self, view: str, run: int) -> Path:
        return self.folder / PROFILES_DIR / view / f"{run}.json"

    def _drop_profiles(self, views: set[str], kept: list[RunRecord]) -> None:
        """Remove the statistics of runs no longer in the (capped) history."""
        numbers = {(r.view, r.run) for r in kept}
        for view in views:
            for path in (self.folder / PROFILES_DIR / view).glob("*.json"):
                if path.stem.isdigit() and (view, int(path.stem)) not in numbers:
                    path.unlink(missing_ok=True)

    def run_profiles(self, view: str, run: int | None = None) -> tuple[RunRecord, dict[str, Any]] | None:
        for record in self.runs(view):
            if record.run is None or (run is not None and record.run != run):
                continue
            try:
                document = json.loads(self._profile_path(view, record.run).read_text())
            except FileNotFoundError:
                if run is not None:
                    return None
                continue
            except (OSError, ValueError) as exc:
                raise RegistryError(
                    f"the statistics of run {record.run} of view {view!r} are unreadable ({exc}); delete "
                    f"{self._profile_path(view, record.run)} and materialize again"
                ) from None
            return record, document
        return None

    def _legacy_project(self) -> str:
        """The project that named a first-format state's namespaces: the applied registry's."""
        try:
            project = json.loads((self.folder / "registry.json").read_text()).get("project")
        except (OSError, ValueError, AttributeError):
            project = None
        return project if isinstance(project, str) else "default"

    def snapshot(self) -> StateEdit:
        """The records as they are now (read without the lock: the file is always whole)."""
        return self._read()[0]

    def stamp(self) -> int | None:
        """The state file's modification time, to notice a change cheaply."""
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None

    def runs(self, view: str | None = None, limit: int | None = None) -> list[RunRecord]:
        found = [r for r in reversed(self._read()[1]) if view is None or r.view == view]
        return found[:limit] if limit is not None else found


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

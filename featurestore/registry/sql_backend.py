"""The registry and state in a database (SQLite or PostgreSQL), several projects side by side.

Tables (created on first use, with a schema version that a newer format refuses to be read as):

* ``fs_projects``: one row per project: the registry version (a count of applies) and a generation
  counter every state edit increments (the cheap ``stamp``). Locking this row (``FOR UPDATE``; SQLite:
  ``BEGIN IMMEDIATE``) serializes applies and state edits of one project.
* ``fs_registry_versions``: (project, version, applied_at, applied_by, document): the last ``history``
  applied registries.
* ``fs_view_versions``: (project, view, version, status, record, updated_at): the state's version
  records (``record``: the ``ViewVersion`` as JSON text).
* ``fs_runs``: completed runs, the last ``history`` per view.

Times are stored as ISO 8601 text (naive UTC).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from featurestore.errors import RegistryError
from featurestore.registry.backend import (
    AppliedVersion,
    RegistryBackend,
    WriteResult,
    applied_by,
    conflict,
)
from featurestore.registry.json_shape import ShapeError
from featurestore.registry.state import RunRecord, StateEdit, ViewVersion, utcnow
from featurestore.registry.storage import parse_registry, registry_document

if TYPE_CHECKING:
    from featurestore.registry.model import Registry
    from featurestore.registry.sql_connection import SqlConnection, Tx

SCHEMA_VERSION = 2
"""1: the first tables; 2: ``fs_profiles`` (the feature statistics of runs)."""

PROFILE_TABLES = (
    "CREATE TABLE IF NOT EXISTS fs_profiles (project TEXT NOT NULL, view TEXT NOT NULL, run BIGINT NOT NULL,"
    " document TEXT NOT NULL, PRIMARY KEY (project, view, run))",
)

TABLES = (
    "CREATE TABLE IF NOT EXISTS fs_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fs_projects (project TEXT PRIMARY KEY,"
    " registry_version BIGINT NOT NULL DEFAULT 0, generation BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS fs_registry_versions (project TEXT NOT NULL, version BIGINT NOT NULL,"
    " applied_at TEXT NOT NULL, applied_by TEXT, document TEXT NOT NULL, PRIMARY KEY (project, version))",
    "CREATE TABLE IF NOT EXISTS fs_view_versions (project TEXT NOT NULL, view TEXT NOT NULL,"
    " version TEXT NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " PRIMARY KEY (project, view, version))",
    "CREATE TABLE IF NOT EXISTS fs_runs ({id}, project TEXT NOT NULL, view TEXT NOT NULL,"
    " version TEXT NOT NULL, started TEXT NOT NULL, finished TEXT NOT NULL, rows_read BIGINT,"
    " rows_written BIGINT NOT NULL, watermark TEXT, outcome TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS fs_runs_view ON fs_runs (project, view, id)",
    *PROFILE_TABLES,
)

_RUN_COLUMNS = "view, version, started, finished, rows_read, rows_written, watermark, outcome"


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class SqlBackend(RegistryBackend):
    """One project's registry and state in a database (see the module docstring)."""

    def __init__(self, connection: SqlConnection, project: str, history: int = 100) -> None:
        self.connection = connection
        self.kind = connection.kind
        self.where = connection.where
        self.project = project
        self.history = history
        self.profiles_table = True

    # -- tables -----------------------------------------------------------------------------------

    def _setup(self) -> None:
        """Check the tables' format, creating them first when they do not exist yet. Tables that exist
        are only read: a server may hold a read-only role (``SELECT`` on these tables, nothing else)."""
        if self.connection.ready:
            return
        row = None
        if self.connection.query(self.connection.tables_exist)[0][0]:
            found = self.connection.query("SELECT version FROM fs_schema WHERE id = 1")
            row = found[0] if found else None
        if row is None:
            with self.connection.transaction() as tx:
                if self.connection.ddl_lock:
                    tx.rows(self.connection.ddl_lock)
                for statement in TABLES:
                    tx.rows(statement.replace("{id}", self.connection.id_column))
                tx.rows(
                    "INSERT INTO fs_schema (id, version) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
                    (SCHEMA_VERSION,),
                )
                row = tx.one("SELECT version FROM fs_schema WHERE id = 1")
        stored = SCHEMA_VERSION if row is None else int(row[0])
        if stored == 1:
            stored = self._upgrade_from_1()
        if stored > SCHEMA_VERSION:
            raise RegistryError(
                f"the registry database {self.where} was written by a newer featurestore (table format "
                f"{stored}; this one reads {SCHEMA_VERSION}): upgrade featurestore"
            )
        self.connection.ready = True

    def _upgrade_from_1(self) -> int:
        """Add the statistics table to a first-format database. A role that may not create tables (a
        server's read-only role) reads on without statistics until a writer upgrades the tables."""
        try:
            with self.connection.transaction() as tx:
                if self.connection.ddl_lock:
                    tx.rows(self.connection.ddl_lock)
                for statement in PROFILE_TABLES:
                    tx.rows(statement)
                tx.rows("UPDATE fs_schema SET version = ? WHERE id = 1 AND version = 1", (SCHEMA_VERSION,))
        except RegistryError:
            self.profiles_table = False
            return 1
        return SCHEMA_VERSION

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Tx]:
        """A transaction holding the project's row (created if new) for its whole length."""
        self._setup()
        with self.connection.transaction() as tx:
            tx.rows(
                "INSERT INTO fs_projects (project) VALUES (?) ON CONFLICT (project) DO NOTHING",
                (self.project,),
            )
            tx.rows(
                "SELECT registry_version FROM fs_projects WHERE project = ?" + self.connection.lock_row,
                (self.project,),
            )
            yield tx

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._setup()
        return self.connection.query(sql, params)

    # -- registry ---------------------------------------------------------------------------------

    def read(self) -> tuple[Registry | None, int, str | None]:
        rows = self._query(
            "SELECT p.registry_version, r.document FROM fs_projects p LEFT JOIN fs_registry_versions r"
            " ON r.project = p.project AND r.version = p.registry_version WHERE p.project = ?",
            (self.project,),
        )
        if not rows or not rows[0][0]:
            return None, 0, None
        version, document = int(rows[0][0]), rows[0][1]
        if document is None:
            return None, version, f"version {version} of project {self.project!r} is missing"
        registry, _, problem = parse_registry(document.encode(), f"{self.where} (project {self.project!r})")
        return registry, version, problem

    def write(
        self,
        registry: Registry | None,
        expected_version: int,
        sync: Callable[[StateEdit], None] | None = None,
    ) -> WriteResult:
        with self._locked() as tx:
            row = tx.one("SELECT registry_version FROM fs_projects WHERE project = ?", (self.project,))
            version = 0 if row is None else int(row[0])
            if version != expected_version:
                raise conflict(expected_version, version, self._applied(tx, version))
            if sync is not None:
                edit, before = self._load(tx)
                sync(edit)
                self._save(tx, edit, before)
            if registry is not None:
                version += 1
                document = registry_document(registry, version).decode()
                tx.rows(
                    "INSERT INTO fs_registry_versions (project, version, applied_at, applied_by, document)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (self.project, version, utcnow().isoformat(), applied_by(), document),
                )
                tx.rows(
                    "UPDATE fs_projects SET registry_version = ? WHERE project = ?", (version, self.project)
                )
                tx.rows(
                    "DELETE FROM fs_registry_versions WHERE project = ? AND version <= ?",
                    (self.project, version - self.history),
                )
        return WriteResult(version)

    def _applied(self, tx: Tx, version: int) -> AppliedVersion | None:
        row = tx.one(
            "SELECT applied_at, applied_by FROM fs_registry_versions WHERE project = ? AND version = ?",
            (self.project, version),
        )
        return None if row is None else AppliedVersion(version, _time(row[0]), row[1])

    def registry_stamp(self) -> int | None:
        return self.stamps()[0]

    def stamps(self) -> tuple[int | None, int | None]:
        """(registry version, state generation) in one query: what a poll reads."""
        rows = self._query(
            "SELECT registry_version, generation FROM fs_projects WHERE project = ?", (self.project,)
        )
        if not rows:
            return None, None
        return (int(rows[0][0]) or None), int(rows[0][1])

    def history_versions(self) -> list[AppliedVersion]:
        rows = self._query(
            "SELECT version, applied_at, applied_by FROM fs_registry_versions WHERE project = ?"
            " ORDER BY version DESC",
            (self.project,),
        )
        return [AppliedVersion(int(v), _time(at), by) for v, at, by in rows]

    # -- state ------------------------------------------------------------------------------------

    def _records(self, rows: list[tuple[Any, ...]]) -> StateEdit:
        edit = StateEdit()
        for view, version, text in rows:
            where = f"{self.where}: fs_view_versions ({self.project}, {view}, {version})"
            try:
                edit.put(ViewVersion.from_json(json.loads(text), where))
            except (ValueError, ShapeError) as exc:
                raise RegistryError(
                    f"{where} is not a valid version record ({exc}); delete that row and run `featurestore "
                    "materialize` to rebuild it"
                ) from None
        return edit

    def _load(self, tx: Tx) -> tuple[StateEdit, dict[tuple[str, str], str]]:
        rows = tx.rows(
            "SELECT view, version, record FROM fs_view_versions WHERE project = ?", (self.project,)
        )
        return self._records(rows), {(view, version): text for view, version, text in rows}

    def _save(self, tx: Tx, edit: StateEdit, before: dict[tuple[str, str], str]) -> None:
        after = {(r.view, r.version): r for r in edit.versions()}
        for view, version in before.keys() - after.keys():
            tx.rows(
                "DELETE FROM fs_view_versions WHERE project = ? AND view = ? AND version = ?",
                (self.project, view, version),
            )
        now = utcnow().isoformat()
        for key, record in after.items():
            text = json.dumps(record.to_json(), sort_keys=True)
            if before.get(key) == text:
                continue
            tx.rows(
                "INSERT INTO fs_view_versions (project, view, version, status, record, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, view, version) DO UPDATE SET"
                " status = excluded.status, record = excluded.record, updated_at = excluded.updated_at",
                (self.project, record.view, record.version, record.status, text, now),
            )
        for i, run in enumerate(edit.new_runs):
            (number,) = tx.rows(
                f"INSERT INTO fs_runs (project, {_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (self.project, *_run_row(run)),
            )[0]
            edit.numbers.append(int(number))
            document = edit.new_profiles.get(i)
            if document is not None and self.profiles_table:
                tx.rows(
                    "INSERT INTO fs_profiles (project, view, run, document) VALUES (?, ?, ?, ?)",
                    (self.project, run.view, number, json.dumps({**document, "run": number})),
                )
        for view in {run.view for run in edit.new_runs}:
            tx.rows(
                "DELETE FROM fs_runs WHERE project = ? AND view = ? AND id NOT IN (SELECT id FROM fs_runs"
                " WHERE project = ? AND view = ? ORDER BY id DESC LIMIT ?)",
                (self.project, view, self.project, view, self.history),
            )
            if self.profiles_table:
                tx.rows(
                    "DELETE FROM fs_profiles WHERE project = ? AND view = ? AND run NOT IN (SELECT id FROM"
                    " fs_runs WHERE project = ? AND view = ?)",
                    (self.project, view, self.project, view),
                )
        tx.rows("UPDATE fs_projects SET generation = generation + 1 WHERE project = ?", (self.project,))

    @contextlib.contextmanager
    def edit(self) -> Iterator[StateEdit]:
        """A read-modify-write in one transaction holding the project's row; stored when the block ends."""
        with self._locked() as tx:
            edit, before = self._load(tx)
            yield edit
            self._save(tx, edit, before)

    def snapshot(self) -> StateEdit:
        rows = self._query(
            "SELECT view, version, record FROM fs_view_versions WHERE project = ?", (self.project,)
        )
        return self._records(rows)

    def stamp(self) -> int | None:
        return self.stamps()[1]

    def run_profiles(self, view: str, run: int | None = None) -> tuple[RunRecord, dict[str, Any]] | None:
        if not self.profiles_table:
            return None
        sql = "SELECT run, document FROM fs_profiles WHERE project = ? AND view = ?"
        params: tuple[Any, ...] = (self.project, view)
        if run is not None:
            sql, params = sql + " AND run = ?", (*params, run)
        found = self._query(sql + " ORDER BY run DESC LIMIT 1", params)
        if not found:
            return None
        number, text = found[0]
        record = next((r for r in self.runs(view) if r.run == int(number)), None)
        if record is None:
            return None
        try:
            return record, json.loads(text)
        except ValueError as exc:
            raise RegistryError(
                f"{self.where}: fs_profiles ({self.project}, {view}, {number}) is not JSON ({exc}); delete "
                "that row"
            ) from None

    def runs(self, view: str | None = None, limit: int | None = None) -> list[RunRecord]:
        sql = f"SELECT id, {_RUN_COLUMNS} FROM fs_runs WHERE project = ?"
        params: tuple[Any, ...] = (self.project,)
        if view is not None:
            sql, params = sql + " AND view = ?", (*params, view)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, limit)
        rows = self._query(sql, params)
        return [
            RunRecord(
                view=v,
                version=version,
                started=datetime.fromisoformat(started),
                finished=datetime.fromisoformat(finished),
                rows_read=None if read is None else int(read),
                rows_written=int(written),
                watermark=_time(mark),
                outcome=outcome,
                run=int(number),
            )
            for number, v, version, started, finished, read, written, mark, outcome in rows
        ]

    def close(self) -> None:
        self.connection.close()


def _run_row(run: RunRecord) -> tuple[Any, ...]:
    mark = None if run.watermark is None else run.watermark.isoformat()
    started, finished = run.started.isoformat(), run.finished.isoformat()
    return (run.view, run.version, started, finished, run.rows_read, run.rows_written, mark, run.outcome)

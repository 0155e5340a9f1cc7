"""The embedded online store: one SQLite file (default ``.featurestore/online.db`` under the repo root).

One table holds every value::

    online_values(namespace TEXT, entity_key TEXT, event_ts INTEGER, value BLOB,
                  PRIMARY KEY (namespace, entity_key)) WITHOUT ROWID

``namespace`` is ``<project>:<view>:<version>``, ``entity_key`` the canonical encoding of ``keys.py`` and
``value`` the packed value of ``codec.py`` (the same bytes Redis stores). Newer-wins is one UPSERT whose
``DO UPDATE`` only fires when ``excluded.event_ts >= event_ts``; each write batch is one ``BEGIN
IMMEDIATE`` transaction. The file is in WAL mode with a busy timeout, so readers never block and two
processes may write at once. Each thread uses its own connection. A read is one ``SELECT``. Expired rows
stay in the file (they read as EXPIRED); ``delete_namespace`` removes one namespace in batches. Markers
live in ``namespace_markers(namespace, marker)``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from featurestore.errors import OnlineStoreError
from featurestore.online.base import OnlineView, StoreCapabilities, StoreDiagnostics, ViewResult
from featurestore.online.batch import encode_batch
from featurestore.online.readplan import ReadPlan

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_values (
    namespace TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    event_ts INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (namespace, entity_key)
) WITHOUT ROWID
"""
_MARKERS = """
CREATE TABLE IF NOT EXISTS namespace_markers (namespace TEXT PRIMARY KEY, marker TEXT NOT NULL)
"""
_UPSERT = """
INSERT INTO online_values (namespace, entity_key, event_ts, value) VALUES (?, ?, ?, ?)
ON CONFLICT (namespace, entity_key) DO UPDATE SET event_ts = excluded.event_ts, value = excluded.value
WHERE excluded.event_ts >= online_values.event_ts
"""
_MAX_VARIABLES = 30_000  # below SQLite's default limit of 32766 bound parameters
_DELETE_BATCH = 10_000


class SqliteOnlineStore:
    """See the module docstring."""

    capabilities = StoreCapabilities(name="sqlite", supports_ttl_expiry=False, cluster=False, embedded=True)

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OnlineStoreError(f"cannot create the online store folder {path.parent}: {exc}") from None
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if self._closed:
            raise OnlineStoreError(f"the SQLite online store {self.path} is closed")
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.execute(_MARKERS)
        except sqlite3.Error as exc:
            raise OnlineStoreError(
                f"cannot open the SQLite online store {self.path}: {self._explain(exc)}"
            ) from None
        self._local.conn = conn
        self._local.pid = os.getpid()  # a forked child opens its own connection
        with self._lock:
            self._connections.append(conn)
        return conn

    def write(self, view: OnlineView, batch: pa.RecordBatch | pa.Table) -> int:
        rows = encode_batch(view, batch, now_us=time.time_ns() // 1000)
        if not len(rows):
            return 0
        ns = view.namespace
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.executemany(
                    _UPSERT, zip([ns] * len(rows), rows.keys, rows.event_ts, rows.values, strict=True)
                )
                written = cursor.rowcount
                conn.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (a full disk): a second ROLLBACK would fail
                # and its "no transaction is active" would hide the real error.
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise OnlineStoreError(
                f"writing view '{view.name}' to {self.path} failed: {self._explain(exc)}"
            ) from None
        return written

    def write_batches(self, view: OnlineView, batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[int]:
        for batch in batches:
            yield self.write(view, batch)

    def read(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        n, groups = plan.encode_keys(entity_keys)
        namespaces = list(dict.fromkeys(r.view.namespace for r in plan.views))
        wanted = list(dict.fromkeys(k for g in {r.key_group for r in plan.views} for k in groups[g]))
        found: dict[tuple[str, str], bytes] = {}
        conn = self._connect()
        step = max(1, _MAX_VARIABLES - len(namespaces))
        ns_marks = ",".join("?" * len(namespaces))
        try:
            for start in range(0, len(wanted), step):
                chunk = wanted[start : start + step]
                sql = (
                    "SELECT namespace, entity_key, value FROM online_values "
                    f"WHERE namespace IN ({ns_marks}) AND entity_key IN ({','.join('?' * len(chunk))})"
                )
                for ns, key, value in conn.execute(sql, [*namespaces, *chunk]):
                    found[(ns, key)] = value
        except sqlite3.Error as exc:
            raise OnlineStoreError(
                f"reading the online store {self.path} failed: {self._explain(exc)}"
            ) from None
        raws = []
        for r in plan.views:
            ns, get = r.view.namespace, found.get
            raws.append([get((ns, k)) for k in groups[r.key_group]] if n else [])
        return plan.results(raws, now)

    def delete_namespace(self, namespace: str) -> int:
        sql = (
            "DELETE FROM online_values WHERE (namespace, entity_key) IN (SELECT namespace, entity_key "
            "FROM online_values WHERE namespace = ? LIMIT ?)"
        )
        conn = self._connect()
        deleted = 0
        try:
            while True:  # small transactions, so readers and writers of other views are never held up
                count = conn.execute(sql, (namespace, _DELETE_BATCH)).rowcount
                deleted += count
                if count < _DELETE_BATCH:
                    break
            conn.execute("DELETE FROM namespace_markers WHERE namespace = ?", (namespace,))
        except sqlite3.Error as exc:
            raise OnlineStoreError(
                f"deleting namespace {namespace} from {self.path} failed: {self._explain(exc)}"
            ) from None
        return deleted

    def count_keys(self, namespace: str) -> int:
        return int(self._query("SELECT count(*) FROM online_values WHERE namespace = ?", namespace) or 0)

    def write_marker(self, namespace: str, marker: str) -> None:
        try:
            self._connect().execute(
                "INSERT INTO namespace_markers VALUES (?, ?) ON CONFLICT (namespace) DO UPDATE "
                "SET marker = excluded.marker",
                (namespace, marker),
            )
        except sqlite3.Error as exc:
            raise OnlineStoreError(
                f"writing the marker of {namespace} to {self.path} failed: {self._explain(exc)}"
            ) from None

    def read_marker(self, namespace: str) -> str | None:
        found = self._query("SELECT marker FROM namespace_markers WHERE namespace = ?", namespace)
        return None if found is None else str(found)

    def diagnostics(self) -> StoreDiagnostics:
        return StoreDiagnostics()  # a local file: nothing evicts values

    def _query(self, sql: str, *args: Any) -> Any:
        try:
            row = self._connect().execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise OnlineStoreError(
                f"reading the online store {self.path} failed: {self._explain(exc)}"
            ) from None
        return None if row is None else row[0]

    def _explain(self, exc: sqlite3.Error) -> str:
        """SQLite's message, with the fix for the errors a user can fix."""
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_FULL":
            return (
                f"the database or the disk is full ({exc}). Free space on the disk holding "
                f"{self.path.parent} and run the command again: nothing of this batch was written, and no "
                "watermark moved"
            )
        if name in ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"):
            return f"{exc}. Make {self.path} and its folder writable by this process"
        if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return f"{exc}: another process held the file for longer than {self.timeout:g}s; retry"
        if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            return (
                f"{exc}. The file is damaged or not a SQLite database: move it aside and run "
                "`featurestore materialize` to rebuild it"
            )
        return str(exc)

    def sink_spec(self) -> None:
        """None: the file is written by this process only (``base.SinkSpec``)."""
        return None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> SqliteOnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

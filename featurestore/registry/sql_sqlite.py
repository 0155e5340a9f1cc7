"""A SQLite database file holding registries and states (``[registry] url = "sqlite:..."``).

WAL mode (readers never wait for the writer), ``BEGIN IMMEDIATE`` for every edit (one writer at a
time, the others wait up to the busy timeout), one connection per process, shared by its threads under
a lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from featurestore.errors import RegistryError
from featurestore.registry.sql_connection import SqlConnection, Tx

BUSY_TIMEOUT_MS = 30_000


class SqliteConnection(SqlConnection):
    kind = "sqlite"
    id_column = "id INTEGER PRIMARY KEY AUTOINCREMENT"
    tables_exist = "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'fs_schema'"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
        except (OSError, sqlite3.Error) as exc:
            raise RegistryError(
                f"cannot open the registry database {self.path} ({exc}); check the [registry] url and that "
                "its folder is writable"
            ) from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock, self._errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn.cursor(), "?")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._errors():
            return [tuple(row) for row in self._connection().execute(sql, params).fetchall()]

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise RegistryError(
                f"the registry database {self.path} failed: {exc}. Check the file and its folder (a disk "
                "that is full or read-only, another process holding a write lock too long)"
            ) from None

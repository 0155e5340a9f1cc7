"""What the SQL backend needs of a database: exclusive transactions and plain reads, one connection per
process, reused. ``sql_sqlite.py`` and ``sql_postgres.py`` implement it; the SQL itself is written once,
with ``?`` placeholders (``Tx`` turns them into the driver's).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the backend uses (sqlite3 and psycopg both have it)."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    @property
    def description(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx:
    """One open transaction: ``rows`` runs a statement and returns its rows (none for a write).

    >>> import sqlite3
    >>> Tx(sqlite3.connect(":memory:").cursor(), "?").rows("SELECT ? + 1", (41,))
    [(42,)]
    """

    def __init__(self, cursor: Cursor, placeholder: str) -> None:
        self.cursor = cursor
        self.placeholder = placeholder

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.placeholder != "?":
            sql = sql.replace("?", self.placeholder)
        self.cursor.execute(sql, params)
        if self.cursor.description is None:  # a statement without a result
            return []
        return [tuple(row) for row in self.cursor.fetchall()]

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None


class SqlConnection(ABC):
    """A database the SQL backend stores a project's registry and state in."""

    kind: str
    """``sqlite`` or ``postgresql``."""
    where: str
    """The database, for messages (never with a password)."""
    id_column: str
    """The DDL of an auto-numbered primary key column named ``id``."""
    ddl_lock: str | None = None
    """A statement run before creating the tables, so two first users don't race (None: not needed)."""
    lock_row: str = ""
    """What to append to the SELECT of the project's row to lock it for the transaction."""
    tables_exist: str = ""
    """A query answering one row whose first value is true when ``fs_schema`` exists (a reader with
    no right to create tables must never try to)."""
    ready: bool = False
    """The tables exist and their format was checked (once per connection object)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """An exclusive transaction: committed when the block ends, rolled back if it raises."""

    @abstractmethod
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read outside any transaction (``?`` placeholders)."""

    _conn: Any = None
    """The open driver connection (None: opened at the next use), owned by process ``_pid``."""
    _pid: int = 0
    _lock: threading.RLock

    def close(self) -> None:
        """Close the connection (a later use opens a new one). A connection inherited from a parent
        process is dropped without closing it: the parent still uses it."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self.ready = False  # checked again when reopened

"""A PostgreSQL database holding registries and states (``[registry] url = "postgresql://..."``).

psycopg 3 (imported here only). One connection per process, shared by its threads under a lock,
reopened once when the server dropped it; every statement has a timeout. The password comes from the
variable ``password_env`` names, else from libpq (``PGPASSWORD``, ``~/.pgpass``); it is never printed:
messages show the URL through ``redact_url``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from featurestore.config import redact_url
from featurestore.errors import ConfigError, RegistryError
from featurestore.registry.sql_connection import SqlConnection, Tx

if TYPE_CHECKING:
    import psycopg

STATEMENT_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 10


class PostgresConnection(SqlConnection):
    kind = "postgresql"
    id_column = "id BIGSERIAL PRIMARY KEY"
    ddl_lock = "SELECT pg_advisory_xact_lock(7310452170520)"  # a constant: "featurestore tables"
    lock_row = " FOR UPDATE"
    tables_exist = "SELECT to_regclass('fs_schema') IS NOT NULL"

    def __init__(self, url: str, password_env: str | None = None) -> None:
        self.url = url
        self.where = redact_url(url)
        self.password_env = password_env
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = 0
        self._lock = threading.RLock()

    def _password(self) -> str | None:
        if self.password_env is None:
            return None  # libpq's own: PGPASSWORD, ~/.pgpass, a service file
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"[registry] password_env names the environment variable {self.password_env!r}, which is "
                f"not set: export {self.password_env}=... before running, or remove password_env to use "
                "PGPASSWORD or ~/.pgpass"
            )
        return value

    def _connection(self, fresh: bool = False) -> psycopg.Connection[Any]:
        conn = self._conn
        mine = conn is not None and self._pid == os.getpid()
        if not fresh and conn is not None and mine and not conn.closed and not conn.broken:
            return conn
        import psycopg

        if conn is not None and self._pid == os.getpid():
            with contextlib.suppress(psycopg.Error):
                conn.close()
        self._conn = None
        password = self._password()
        options: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            "application_name": "featurestore",
        }
        if password is not None:
            options["password"] = password
        try:
            conn = psycopg.connect(self.url, **options)
        except psycopg.Error as exc:
            raise RegistryError(
                f"cannot connect to the registry database {self.where}: {self._scrub(exc)}. Check that the "
                "server runs and the URL, user and password are right (the password from [registry] "
                "password_env, PGPASSWORD or ~/.pgpass)"
            ) from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _scrub(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        password = os.environ.get(self.password_env) if self.password_env else None
        return text.replace(password, "***") if password else text

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        import psycopg

        with self._lock, self._errors():
            conn = self._connection()
            try:
                block = conn.transaction()
                block.__enter__()
            except psycopg.OperationalError:  # dropped since the last use: reconnect once
                conn = self._connection(fresh=True)
                block = conn.transaction()
                block.__enter__()
            try:
                with conn.cursor() as cursor:
                    yield Tx(cursor, "%s")
            except BaseException as exc:
                block.__exit__(type(exc), exc, exc.__traceback__)
                raise
            block.__exit__(None, None, None)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock, self._errors():
            try:
                with self._connection().cursor() as cursor:
                    return Tx(cursor, "%s").rows(sql, params)
            except psycopg.OperationalError:
                with self._connection(fresh=True).cursor() as cursor:  # reconnect once
                    return Tx(cursor, "%s").rows(sql, params)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.errors.QueryCanceled:
            raise RegistryError(
                f"the registry database {self.where} did not answer within {STATEMENT_TIMEOUT_MS // 1000} s "
                "(a long lock held by another process, or an overloaded server); run the command again"
            ) from None
        except psycopg.Error as exc:
            raise RegistryError(
                f"the registry database {self.where} failed: {self._scrub(exc)}. Check the server and the "
                "user's rights on its tables"
            ) from None

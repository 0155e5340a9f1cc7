"""The registry backends by ``[registry] url`` scheme: ``open_backend`` picks one, its driver imported
only then, and keeps one connection per database per process.

    >>> from featurestore.config import RegistryConfig
    >>> open_backend(RegistryConfig(), Path("/tmp/repo")).kind
    'files'
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.errors import RegistryError

if TYPE_CHECKING:
    from featurestore.config import RegistryConfig
    from featurestore.registry.backend import RegistryBackend
    from featurestore.registry.sql_connection import SqlConnection


def open_backend(config: RegistryConfig, root: Path, project: str = "default") -> RegistryBackend:
    """The backend ``config.url`` names, for ``project`` (several projects may share a database)."""
    if config.scheme == "files":
        from featurestore.registry.files_backend import FilesBackend

        return FilesBackend(root, history=config.history)
    from featurestore.registry.sql_backend import SqlBackend

    return SqlBackend(_connection(config, root), project, config.history)


_CONNECTIONS: dict[tuple[str, str, str | None], SqlConnection] = {}


def _connection(config: RegistryConfig, root: Path) -> SqlConnection:
    """One connection per database per process, shared by every store and thread (each opens it lazily,
    reopens it after ``close``, and in a forked child)."""
    assert config.url is not None  # not files
    path = sqlite_path(config.url, root) if config.scheme == "sqlite" else None
    key = (config.scheme, str(path or config.url), config.password_env)
    found = _CONNECTIONS.get(key)
    if found is None:
        if path is not None:
            from featurestore.registry.sql_sqlite import SqliteConnection

            found = SqliteConnection(path)
        else:
            from featurestore.registry.sql_postgres import PostgresConnection

            found = PostgresConnection(config.url, config.password_env)
        if not _CONNECTIONS:
            atexit.register(_close_all)
        found = _CONNECTIONS.setdefault(key, found)
    return found


def _close_all() -> None:
    for connection in _CONNECTIONS.values():
        connection.close()


def sqlite_path(url: str, root: Path) -> Path:
    """The database file of a ``sqlite:`` URL: ``sqlite:///abs.db`` absolute, ``sqlite:rel.db`` relative to
    the repo root.

    >>> sqlite_path("sqlite:///var/fs.db", Path("/r")), sqlite_path("sqlite:state/fs.db", Path("/r"))
    (PosixPath('/var/fs.db'), PosixPath('/r/state/fs.db'))
    """
    rest = url.partition(":")[2]
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest or rest == "/":
        raise RegistryError(
            f"{url!r} names no database file; write sqlite:///abs/path.db or sqlite:rel/path.db"
        )
    return Path(rest) if rest.startswith("/") else root / rest

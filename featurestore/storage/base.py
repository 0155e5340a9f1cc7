"""The ``Storage`` protocol: bulk data (push log, feature log, aggregate states) under relative keys.

A key is a ``/``-separated path relative to the storage's base (``push_log/trips/20261101-ab12.parquet``).
Every write is atomic: a reader sees the previous object or the whole new one, never part of one.
``uri(key)`` / ``glob_uri(prefix)`` are what an engine reads (a local path, or ``s3://bucket/...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class StoredObject:
    """One object under a prefix: its key and when it was last written (seconds since the epoch)."""

    key: str
    modified: float
    size: int


@runtime_checkable
class Storage(Protocol):
    """Where one repo keeps its bulk data (see the module docstring)."""

    @property
    def url(self) -> str:
        """The base, as shown in messages (an ``s3://`` URL or a folder; never a credential)."""
        ...

    @property
    def is_local(self) -> bool:
        """Objects are files on this machine (``uri`` is a local path)."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, replacing what was there."""
        ...

    def write_table(self, key: str, table: pa.Table) -> None:
        """Store ``table`` as one Parquet file (zstd) under ``key`` atomically."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Store the local file ``path`` under ``key`` atomically (the file is left in place)."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` when there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[StoredObject]:
        """Every whole object under ``prefix`` (recursively), sorted by key; never a write in progress."""
        ...

    def delete(self, key: str) -> None:
        """Remove one object (nothing happens when it is not there)."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under ``prefix``."""
        ...

    def uri(self, key: str) -> str:
        """The object as an engine reads it."""
        ...

    def glob_uri(self, prefix: str, pattern: str = "*.parquet") -> str:
        """A glob of the objects directly under ``prefix``, as an engine reads it."""
        ...


def join_key(*parts: str) -> str:
    """Parts joined with ``/``, without empty parts or stray slashes.

    >>> join_key("push_log/", "", "/trips", "a.parquet")
    'push_log/trips/a.parquet'
    """
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of one Parquet file (zstd), built in memory before any upload starts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue())

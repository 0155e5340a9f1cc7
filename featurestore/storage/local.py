"""``LocalStorage``: bulk data in a folder (by default ``.featurestore/`` under the repo root).

Writes go to a hidden temporary file in the target folder, are fsynced, then renamed over the target:
a reader sees the old file or the new one. Listings skip hidden names (writes in progress).

    >>> import tempfile
    >>> storage = LocalStorage(Path(tempfile.mkdtemp()))
    >>> storage.write_bytes("push_log/trips/a.json", b"{}")
    >>> [o.key for o in storage.list("push_log")]
    ['push_log/trips/a.json']
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.errors import StorageError
from featurestore.storage.base import StoredObject, join_key, parquet_bytes

if TYPE_CHECKING:
    import pyarrow as pa


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync it, rename it over
    ``path`` and fsync the folder: a reader sees the old file or the new one, and a crash keeps one of
    them. On any failure the temporary file is removed and the ``OSError`` raised."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalStorage:
    """A folder on this machine (see the module docstring)."""

    is_local = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def url(self) -> str:
        return str(self.folder)

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        return self.folder / join_key(key) if join_key(key) else self.folder

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            replace_file(target, data)
        except OSError as exc:
            raise StorageError(
                f"cannot write {target} ({exc.strerror or exc}); make the folder writable, or point "
                "[storage] url in featurestore.toml at one that is"
            ) from None

    def write_table(self, key: str, table: pa.Table) -> None:
        self.write_bytes(key, parquet_bytes(table))

    def put_file(self, key: str, path: Path) -> None:
        target = self.path(key)
        if target == path:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            shutil.copyfile(path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[StoredObject]:
        base = self.path(prefix)
        if not base.is_dir():
            return []
        out = []
        for file in base.rglob("*"):
            relative = file.relative_to(self.folder)
            if any(part.startswith(".") for part in relative.parts) or not file.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):  # removed since the listing
                stat = file.stat()
                out.append(StoredObject(relative.as_posix(), stat.st_mtime, stat.st_size))
        return sorted(out, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def glob_uri(self, prefix: str, pattern: str = "*.parquet") -> str:
        return str(self.path(prefix) / pattern)

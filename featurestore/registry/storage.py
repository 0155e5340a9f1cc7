"""The registry file: JSON, written atomically (temp file + fsync + rename) under an exclusive lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from featurestore.config import STATE_DIR
from featurestore.errors import RegistryError
from featurestore.registry.model import Registry

REGISTRY_FILE = "registry.json"
LOCK_FILE = "registry.lock"


def registry_path(root: Path) -> Path:
    return root / STATE_DIR / REGISTRY_FILE


def read_registry(root: Path) -> Registry | None:
    """The applied registry, or None when nothing was applied yet."""
    path = registry_path(root)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the registry: {exc}") from None
    try:
        return Registry.model_validate_json(text)
    except ValidationError as exc:
        raise RegistryError(
            f"{path} is not a valid registry ({exc.error_count()} problems, first: "
            f"{exc.errors()[0]['msg']}). Run `featurestore apply` to rewrite it."
        ) from None


@contextlib.contextmanager
def registry_lock(root: Path) -> Iterator[None]:
    """An exclusive lock so two concurrent applies never interleave their read-diff-write."""
    folder = root / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_registry(root: Path, registry: Registry) -> Path:
    """Replace the registry file atomically: readers see the old or the new file, never half."""
    path = registry_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, registry.to_json().encode())
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, and rename."""
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

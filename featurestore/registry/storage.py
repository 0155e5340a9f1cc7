"""The registry file: JSON, written atomically (temp file + fsync + rename) under an exclusive lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from featurestore.config import STATE_DIR
from featurestore.errors import RegistryError, write_problem
from featurestore.registry.json_shape import ShapeError
from featurestore.registry.model import Registry
from featurestore.registry.upgrade import NewerFormatError, upgrade

REGISTRY_FILE = "registry.json"
LOCK_FILE = "registry.lock"


def registry_path(root: Path) -> Path:
    return root / STATE_DIR / REGISTRY_FILE


def read_registry(root: Path) -> Registry | None:
    """The applied registry, or None when nothing was applied yet."""
    registry, problem = read_registry_for_apply(root)
    if problem is not None:
        raise RegistryError(
            f"{registry_path(root)} is not a valid registry ({problem}). Run `featurestore apply`: it "
            "replaces the registry from definitions/ (and keeps the unreadable file beside it)"
        )
    return registry


def read_registry_for_apply(root: Path) -> tuple[Registry | None, str | None]:
    """The applied registry (None if nothing was applied), or what makes the file unreadable.

    A file that cannot be opened, or was written by a newer featurestore, is an error; one that opens
    but holds no valid registry (not UTF-8, not JSON, the wrong shape, a type an older format stored
    that has no Arrow name) comes back as a problem, because ``apply`` may replace it. Older formats are
    upgraded as they are read (``registry/upgrade.py``).
    """
    path = registry_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise RegistryError(
            f"{path}: cannot read the registry ({exc.strerror}); check the file's permissions"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"byte {exc.start} is not UTF-8"
    try:
        document = json.loads(text)
    except ValueError:
        document = None  # not JSON: the model's validation below says where
    if document is not None:
        try:
            upgraded = upgrade(document)
        except NewerFormatError as exc:
            raise RegistryError(f"{path}: {exc}, or apply with the version that wrote it") from None
        except ShapeError as exc:
            return None, str(exc)
        if upgraded is not document:
            text = json.dumps(upgraded)
    try:
        return Registry.model_validate_json(text), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"{exc.error_count()} problems, first: {first['msg']}" + (
            f" at {where}" if where else ""
        )


def keep_unreadable_registry(root: Path, problem: str) -> str:
    """Keep the bytes of an unreadable registry beside it, as ``registry.json.corrupt-<UTC time>``, before
    ``apply`` replaces it; returns the warning that says so."""
    path = registry_path(root)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        # A second name for the same bytes: no space needed, and the replace below leaves it alone.
        os.link(path, aside)
    except OSError:
        try:
            shutil.copyfile(path, aside)
        except OSError as exc:
            raise RegistryError(
                f"cannot keep a copy of the unreadable registry {path} as {aside.name} ({exc.strerror}); "
                f"move {path} aside yourself and run `featurestore apply` again"
            ) from None
    return (
        f"the registry {path} was unreadable ({problem}): it is replaced by the applied definitions, and "
        f"the unreadable file kept as {aside}"
    )


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"cannot create {path.parent}: {_write_problem(exc, path)}") from None
    write_atomic(path, registry.to_json().encode())
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, and rename.

    If anything fails the previous file is untouched and the temp file removed; an operating system error
    (a full disk, a read-only folder) becomes a ``RegistryError`` that says so.
    """
    try:
        _write_atomic(path, data)
    except OSError as exc:
        raise RegistryError(f"cannot write {path}: {_write_problem(exc, path)}") from None


def _write_atomic(path: Path, data: bytes) -> None:
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


def _write_problem(exc: OSError, path: Path) -> str:
    return f"{write_problem(exc, path)}. The previous {path.name} is unchanged"

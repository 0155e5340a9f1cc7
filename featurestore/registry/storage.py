"""The registry file: JSON, written atomically (temp file + fsync + rename) under an exclusive lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from featurestore.config import STATE_DIR
from featurestore.errors import RegistryError, write_problem
from featurestore.registry.json_shape import ShapeError
from featurestore.registry.model import Registry
from featurestore.registry.upgrade import NewerFormatError, upgrade
from featurestore.storage.local import replace_file

REGISTRY_FILE = "registry.json"
LOCK_FILE = "registry.lock"
VERSION_FIELD = "registry_version"


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
    """The applied registry (None if nothing was applied), or what makes the file unreadable (see
    ``read_registry_file``)."""
    registry, _, problem = read_registry_file(root)
    return registry, problem


def read_registry_file(root: Path) -> tuple[Registry | None, int, str | None]:
    """The applied registry (None if nothing was applied), its version, and what makes the file unreadable.

    A file that cannot be opened, or was written by a newer featurestore, is an error; one that opens
    but holds no valid registry (not UTF-8, not JSON, the wrong shape, a type an older format stored
    that has no Arrow name) comes back as a problem, because ``apply`` may replace it. The version (a
    count of applies) is kept in the file beside the registry, outside its fingerprinted content; a file
    without one is version 1.
    """
    path = registry_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, 0, None
    except OSError as exc:
        raise RegistryError(
            f"{path}: cannot read the registry ({exc.strerror}); check the file's permissions"
        ) from None
    return parse_registry(raw, str(path))


def parse_registry(raw: bytes, where: str) -> tuple[Registry | None, int, str | None]:
    """A stored registry document: (registry or None, version, problem). ``where`` names it in errors.

    >>> registry, version, problem = parse_registry(b'{"project": "p", "registry_version": 4}', "x")
    >>> registry.project, version, problem
    ('p', 4, None)
    >>> parse_registry(b"[", "x")[2]
    '1 problems, first: Invalid JSON: EOF while parsing a list at line 1 column 1'
    """
    version = 1
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, version, f"byte {exc.start} is not UTF-8"
    try:
        document = json.loads(text)
    except ValueError:
        document = None  # not JSON: the model's validation below says where
    if isinstance(document, dict) and VERSION_FIELD in document:
        stored = document.pop(VERSION_FIELD)
        version = stored if isinstance(stored, int) and not isinstance(stored, bool) else 1
        text = json.dumps(document)
    if document is not None:
        try:
            upgraded = upgrade(document)
        except NewerFormatError as exc:
            raise RegistryError(f"{where}: {exc}, or apply with the version that wrote it") from None
        except ShapeError as exc:
            return None, version, str(exc)
        if upgraded is not document:
            text = json.dumps(upgraded)
    try:
        return Registry.model_validate_json(text), version, None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        return (
            None,
            version,
            f"{exc.error_count()} problems, first: {first['msg']}" + (f" at {loc}" if loc else ""),
        )


def registry_document(registry: Registry, version: int) -> bytes:
    """The stored form of a registry version: its JSON with the version beside the content."""
    document = registry.model_dump(mode="json")
    document[VERSION_FIELD] = version
    return json.dumps(document, indent=1).encode()


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


def write_registry(root: Path, registry: Registry, version: int = 1) -> Path:
    """Replace the registry file atomically: readers see the old or the new file, never half."""
    path = registry_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"cannot create {path.parent}: {_write_problem(exc, path)}") from None
    write_atomic(path, registry_document(registry, version))
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, and rename.

    If anything fails the previous file is untouched and the temp file removed; an operating system error
    (a full disk, a read-only folder) becomes a ``RegistryError`` that says so.
    """
    try:
        replace_file(path, data)
    except OSError as exc:
        raise RegistryError(f"cannot write {path}: {_write_problem(exc, path)}") from None


def _write_problem(exc: OSError, path: Path) -> str:
    return f"{write_problem(exc, path)}. The previous {path.name} is unchanged"

"""Where the registry and the runtime state live: one interface, three backends.

``[registry] url`` chooses: nothing (files under ``.featurestore/``, the default), ``sqlite:...`` or
``postgresql://...``. A backend is the project's ``StateStore`` (versions, watermarks, runs) and holds
its registry: ``read`` returns it with its version (a count of applies: 1, 2, ...) and ``write`` is a
compare-and-set on that version, with the state's sync in the same lock (a database: one transaction).

To add a backend: a subclass of ``RegistryBackend`` in a module of its own, and one line in
``registry/backends.py::open_backend`` (its driver imported there, lazily).
"""

from __future__ import annotations

import getpass
import socket
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from featurestore.errors import RegistryConflictError, RegistryError
from featurestore.registry.state import StateEdit, StateStore

if TYPE_CHECKING:
    from featurestore.registry.model import Registry


@dataclass(frozen=True)
class AppliedVersion:
    """One applied registry version in the history."""

    version: int
    applied_at: datetime | None
    applied_by: str | None


@dataclass(frozen=True)
class WriteResult:
    """What ``write`` stored: the registry's version now, and what a user should know."""

    version: int
    warnings: tuple[str, ...] = ()


def applied_by() -> str:
    """Who applies, for the history: ``user@host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def conflict(expected: int, found: int, who: AppliedVersion | None = None) -> RegistryConflictError:
    """The error of a compare-and-set that lost.

    >>> print(conflict(3, 4, AppliedVersion(4, datetime(2026, 1, 2, 3, 4, 5), "ana@ci")))
    ... # doctest: +NORMALIZE_WHITESPACE
    the registry changed since your plan (version 3 -> 4); run plan again
    (version 4 applied by ana@ci at 2026-01-02 03:04:05)
    """
    message = f"the registry changed since your plan (version {expected} -> {found}); run plan again"
    if who is not None and (who.applied_by or who.applied_at):
        by = f" by {who.applied_by}" if who.applied_by else ""
        at = f" at {who.applied_at.isoformat(sep=' ', timespec='seconds')}" if who.applied_at else ""
        message += f" (version {who.version} applied{by}{at})"
    return RegistryConflictError(message)


class RegistryBackend(StateStore):
    """The registry and the runtime state of one project (see the module docstring)."""

    kind: str
    """``files``, ``sqlite`` or ``postgresql``."""
    where: str
    """Where it is, for messages (a path, or a URL without its password)."""

    @abstractmethod
    def read(self) -> tuple[Registry | None, int, str | None]:
        """(the registry or None if nothing was applied, its version (0: none), what makes the stored
        registry unreadable or None). An unreadable one comes back as a problem because apply may
        replace it; one written by a newer featurestore is a ``RegistryError``."""

    @abstractmethod
    def write(
        self,
        registry: Registry | None,
        expected_version: int,
        sync: Callable[[StateEdit], None] | None = None,
    ) -> WriteResult:
        """Store ``registry`` as version ``expected_version + 1`` if the stored version is still
        ``expected_version`` (else ``RegistryConflictError``); ``None``: keep the registry, only check the
        version. ``sync`` edits the state in the same lock (a database: the same transaction). Older
        versions beyond ``history`` are deleted in that transaction."""

    @abstractmethod
    def registry_stamp(self) -> int | None:
        """Cheap: a value that changes when the registry does (None: nothing applied)."""

    @abstractmethod
    def history_versions(self) -> list[AppliedVersion]:
        """The registry versions kept, newest first."""

    def stamps(self) -> tuple[int | None, int | None]:
        """(``registry_stamp()``, ``stamp()``): what a reader polls to notice a change."""
        return self.registry_stamp(), self.stamp()

    def close(self) -> None:
        """Release a connection, if the backend holds one."""

    def read_registry(self) -> Registry | None:
        """The applied registry (None if nothing was applied); an unreadable one is an error."""
        registry, _, problem = self.read()
        if problem is not None:
            kept = " (and keeps the unreadable file beside it)" if self.kind == "files" else ""
            raise RegistryError(
                f"{self.where} is not a valid registry ({problem}). Run `featurestore apply`: it "
                f"replaces the registry from definitions/{kept}"
            )
        return registry

"""One exception tree for everything a user can get wrong.

Every message says what was wrong, where (object name, file and line when known) and how to fix it.
The CLI catches ``FeatureStoreError``, prints one red line and exits 1.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

Surface = Literal["sdk", "cli", "http"]
"""Where a request came from: Python, the command line, or the HTTP server (errors name its flags)."""


class FeatureStoreError(Exception):
    """Base class of every error the feature store raises on purpose."""

    def worded_for(self, surface: Surface) -> str:
        """The message in the words of ``surface`` (its flags and options); the SDK's by default."""
        return str(self)


class ConfigError(FeatureStoreError):
    """``featurestore.toml`` or an environment variable holds a bad value."""


class DefinitionError(FeatureStoreError):
    """A definition object is invalid (bad name, bad ttl, unknown type, ...)."""


class DefinitionLoadError(DefinitionError):
    """A file under ``definitions/`` failed to import, or two objects share a name."""


class RegistryError(FeatureStoreError):
    """The registry is missing, unreadable or locked."""


class RegistryConflictError(RegistryError):
    """Another apply changed the registry since this one read it (compare-and-set on its version)."""


class OnDemandCodeError(RegistryError):
    """An applied on-demand view's function cannot be had here (a missing module, another version of it,
    code the configuration does not allow): a deployment fault, found at startup."""


class SchemaMismatchError(FeatureStoreError):
    """A source's actual columns do not match what a feature view declares."""


class SourceError(FeatureStoreError):
    """A source cannot be read (missing file, bad query, unreadable format)."""


class StorageError(FeatureStoreError):
    """The bulk-data storage (``[storage] url``: a local folder or ``s3://``) cannot be used: no such
    bucket, credentials refused, endpoint unreachable, a folder that cannot be written."""


class UnknownObjectError(FeatureStoreError):
    """A name that refers to no registered object."""


class UnknownViewError(UnknownObjectError):
    """A feature reference names a feature view that is not registered."""


class UnknownFeatureError(UnknownObjectError):
    """A feature reference names a feature that the view does not have."""


class UnknownServiceError(UnknownObjectError):
    """A feature service name that is not registered."""


class EntityRowsError(FeatureStoreError):
    """The entity rows of a request (entity_df or entity_rows) are unusable."""


class CallerQueryError(EntityRowsError):
    """Entity rows given as SQL that is not one read-only query over its own values (see the README's
    trust model): refused before it runs."""


class FeatureNameCollisionError(FeatureStoreError):
    """Two requested features would produce the same output column.

    The message is a template: ``{flag}`` stands for the full-feature-names option of the surface in
    use, so the CLI and the HTTP server name their own (``worded_for``).

    >>> exc = FeatureNameCollisionError("column 'x' collides: pass {flag}")
    >>> str(exc)
    "column 'x' collides: pass full_feature_names=True"
    >>> exc.worded_for("cli")
    "column 'x' collides: pass --full-feature-names"
    >>> print(exc.worded_for("http"))
    column 'x' collides: pass "full_feature_names": true
    """

    FLAGS: dict[str, str] = {
        "sdk": "full_feature_names=True",
        "cli": "--full-feature-names",
        "http": '"full_feature_names": true',
    }

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.worded_for("sdk"))

    def worded_for(self, surface: Surface) -> str:
        # replace, not format: the message quotes user column names, which may hold braces
        return self.template.replace("{flag}", self.FLAGS[surface])


class InvalidArgumentError(FeatureStoreError):
    """An argument of the wrong kind for a public method (``features=None``, ``end="yesterday"``)."""


class OutputError(FeatureStoreError):
    """A result cannot be written where it was asked to go (a missing or read-only folder, a full disk)."""


class OnlineStoreError(FeatureStoreError):
    """The online store is unreachable, misconfigured or refused a command."""


class OnlineStoreTimeoutError(OnlineStoreError):
    """The online store did not answer in time (its read timeout, or the deadline of a request)."""


class MaterializationError(FeatureStoreError):
    """A materialization run cannot start or could not complete."""


class FutureTimeError(FeatureStoreError):
    """A time later than now plus the allowed clock skew (an end time, pushed rows): it would pin values."""


class OnDemandFeatureError(FeatureStoreError):
    """A request-time (on-demand) feature function raised, or returned something unusable."""


class ValidationError(FeatureStoreError):
    """Rows broke an error-severity check declared with the definitions (``dsl/checks.py``); nothing was
    written. ``report`` (a ``validation.ValidationReport``) holds every violation."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return a "Did you mean 'x'? Known: a, b." suffix for an unknown name.

    >>> did_you_mean("conv_rat", ["conv_rate", "acc_rate"])
    "Did you mean 'conv_rate'? Known: acc_rate, conv_rate."
    """
    names = sorted(known)
    if not names:
        return "Nothing of that kind is registered."
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    prefix = f"Did you mean '{close[0]}'? " if close else ""
    return f"{prefix}Known: {shown}."


# What a column name looks like (``driver_id``, ``Event Time``), unlike a line of data taken for a header.
_COLUMN_NAME = re.compile(r"^[\w .\-#%()\[\]]{1,128}$")


def looks_like_column_names(names: Iterable[str]) -> bool:
    """Whether names read from a file look like column names rather than a line of its data (a file
    without a header line, or not a table at all), which a message must not echo.

    >>> looks_like_column_names(["driver_id", "Event Time"]), looks_like_column_names(["root:x:0:0"])
    (True, False)
    """
    return all(_COLUMN_NAME.match(name) for name in names)


def write_problem(exc: OSError, path: Path | str) -> str:
    """What went wrong writing ``path``, and the fix, for a message that goes on to say what is unchanged.

    >>> import errno
    >>> write_problem(OSError(errno.ENOSPC, "No space left on device"), "/d/ts.parquet")
    'the disk is full (No space left on device). Free space on the disk holding /d and run the command again'
    """
    folder = os.path.dirname(os.path.abspath(path))
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the disk is full ({reason}). Free space on the disk holding {folder} and run the command again"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{reason}. Make {folder} writable, or write somewhere else"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{folder} is not a folder (a file of that name is in the way). Choose another place"
    if exc.errno == errno.ENOENT:
        return f"{folder} does not exist and cannot be created. Choose another place"
    return f"{reason}. Choose another place, or fix {folder}"


class FeatureStoreWarning(UserWarning):
    """Base class of the warnings the feature store issues: a request or definition that works but
    probably does not do what was meant. The CLI prints each as one yellow line."""


class AsKnownAtIgnoredWarning(FeatureStoreWarning):
    """``as_known_at=True`` changes nothing: no requested view's source has a created timestamp."""

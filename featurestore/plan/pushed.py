"""Where pushed rows live offline: the push log of a feature view, read together with its source.

``store.push(view, rows, to="offline" | "both")`` writes one Parquet file per push under the key prefix
``push_log/<view>/`` of the repo's storage (``[storage] url``; by default ``.featurestore/push_log/<view>/``,
or ``s3://bucket/prefix/push_log/<view>/``). Each file is written atomically (a local temp file renamed, or
one S3 object), so a reader never sees half a file. Training sets and materialization scan the view's
source and these files as one table (a union by column name), so a pushed row obeys the same
point-in-time rules as a source row.

    >>> push_log_prefix("driver_stats")
    'push_log/driver_stats'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featurestore.storage import Storage

PUSH_LOG_DIR = "push_log"


def push_log_prefix(view: str) -> str:
    """The key prefix of one view's pushed rows."""
    return f"{PUSH_LOG_DIR}/{view}"


def push_log_glob(root: Path, view: str, storage: Storage | None = None) -> str | None:
    """The glob the engine reads the view's push-log files with, or ``None`` when nothing was pushed
    offline. ``storage``: the repo's (default: ``storage_for(root)``)."""
    from featurestore.storage import storage_for

    storage = storage or storage_for(root)
    prefix = push_log_prefix(view)
    direct = [o for o in storage.list(prefix) if "/" not in o.key[len(prefix) + 1 :]]
    if not any(o.key.endswith(".parquet") for o in direct):
        return None
    return storage.glob_uri(prefix)

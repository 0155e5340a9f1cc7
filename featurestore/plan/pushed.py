"""Where pushed rows live offline: the push log of a feature view, read together with its source.

``store.push(view, rows, to="offline" | "both")`` appends one Parquet file per push under
``.featurestore/push_log/<view>/`` (written to a temporary name, then renamed, so a reader never sees half
a file). Training sets and materialization scan the view's source and these files as one table (a union
by column name), so a pushed row obeys the same point-in-time rules as a source row.

    >>> from pathlib import Path
    >>> str(push_log_dir(Path("/repo"), "driver_stats"))
    '/repo/.featurestore/push_log/driver_stats'
"""

from __future__ import annotations

from pathlib import Path

from featurestore.config import STATE_DIR

PUSH_LOG_DIR = "push_log"


def push_log_dir(root: Path, view: str) -> Path:
    """The folder of one view's pushed rows."""
    return root / STATE_DIR / PUSH_LOG_DIR / view


def push_log_glob(root: Path, view: str) -> str | None:
    """The glob of the view's push-log files, or ``None`` when nothing was pushed offline."""
    folder = push_log_dir(root, view)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return None
    return str(folder / "*.parquet")

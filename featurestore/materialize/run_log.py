"""One log line per view and run, on the ``featurestore.materialize`` logger, its numbers as structured
fields (``extra``) for JSON logs."""

from __future__ import annotations

import logging
import time
from datetime import UTC

from featurestore.materialize.summary import ViewRun

log = logging.getLogger("featurestore.materialize")


def log_run(run: ViewRun, status: str, incremental: bool, began: float, reason: str = "") -> None:
    """One log line per view and run, its numbers as structured fields (``extra``) for JSON logs.

    ``status``: written, skipped (the definition went away before the run began) or failed.
    """
    seconds = round(time.perf_counter() - began, 3)
    watermark = run.end.replace(tzinfo=UTC).isoformat() if status == "written" else None
    fields = {
        "view": run.view,
        "version": run.version,
        "status": status,
        "mode": "incremental" if incremental else "full",
        "rows_read": run.rows_read,
        "rows_skipped": run.rows_skipped,
        "rows_expired": run.rows_expired,
        "entities_written": run.entities_written,
        "seconds": seconds,
        "watermark": watermark,
        "pending": run.pending,
        "promoted": run.promoted,
    }
    if status == "written":
        log.info(
            "materialized %s version %s: %s rows read, %s skipped, %s expired, %s entities written in %.2fs; "
            "watermark %s",
            run.view,
            run.version,
            f"{run.rows_read:,}",
            f"{run.rows_skipped:,}",
            f"{run.rows_expired:,}",
            f"{run.entities_written:,}",
            seconds,
            watermark,
            extra=fields,
        )
    elif status == "skipped":
        log.info("skipped %s: %s", run.view, reason, extra={**fields, "reason": reason})
    else:
        log.error(
            "materializing %s version %s failed after %.2fs (watermark unchanged): %s",
            run.view,
            run.version,
            seconds,
            reason,
            extra={**fields, "error": reason},
        )

"""What is online, per view and version: status, watermark, freshness, keys, and what the store holds.

``featurestore status`` prints it; problems come with the command that fixes them:

* a watermark later than now plus the clock skew (written before end times were bounded, or by a host
  whose clock ran ahead) pins the online values: ``materialize --overwrite --end now`` rewrites them;
* a version whose marker the store lacks, or holds for an earlier time, was lost by the store (flushed,
  switched, restored): ``materialize-incremental`` rewrites what it lacks;
* a pending version behind the active one waits for ``materialize`` (or ``promote --force``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurestore.registry.state import StateStore, ViewVersion, utcnow
from featurestore.versions import store_watermark

if TYPE_CHECKING:
    from featurestore.online.base import OnlineStore


@dataclass(frozen=True)
class VersionStatus:
    """One version of one view, as ``featurestore status`` shows it."""

    view: str
    version: str
    status: str
    project: str
    watermark: datetime | None
    materialized_at: datetime | None
    keys: int | None
    """Entity values the store holds (None: not counted)."""
    store: str
    """``ok``, ``missing`` (the store holds no marker), ``behind`` (its marker is older), ``-``."""
    writers: int
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def freshness(self) -> timedelta | None:
        """How far the watermark is behind the wall clock."""
        return None if self.watermark is None else utcnow() - self.watermark

    def to_json(self) -> dict[str, Any]:
        fresh = self.freshness
        return {
            "view": self.view,
            "version": self.version,
            "status": self.status,
            "project": self.project,
            "watermark": None if self.watermark is None else self.watermark.isoformat(),
            "materialized_at": None if self.materialized_at is None else self.materialized_at.isoformat(),
            "freshness_seconds": None if fresh is None else round(fresh.total_seconds(), 3),
            "keys": self.keys,
            "store": self.store,
            "writers": self.writers,
            "problems": list(self.problems),
        }


def view_statuses(
    state: StateStore,
    store: OnlineStore | None,
    *,
    clock_skew: timedelta,
    views: list[str] | None = None,
) -> list[VersionStatus]:
    """Every recorded version (of ``views``, or all), active first; ``store=None`` skips the store."""
    edit = state.snapshot()
    order = {"active": 0, "pending": 1, "retired": 2}
    out = []
    for record in sorted(edit.versions(), key=lambda r: (r.view, order[r.status], r.created_at)):
        if views and record.view not in views:
            continue
        out.append(_status(record, edit.active(record.view), store, clock_skew))
    return out


def _status(
    record: ViewVersion, active: ViewVersion | None, store: OnlineStore | None, clock_skew: timedelta
) -> VersionStatus:
    mark = record.watermark
    problems = []
    held = "-"
    keys = None
    if store is not None and record.status != "retired":
        keys = store.count_keys(record.namespace)
        if mark is not None:
            stored = store_watermark(store, record)
            held = "missing" if stored is None else "behind" if stored.event_time < mark.event_time else "ok"
            if held != "ok":
                problems.append(
                    f"the online store {'holds no marker of' if held == 'missing' else 'is behind on'} this "
                    "version (flushed, switched or restored): run `featurestore materialize-incremental "
                    f"--view {record.view}` to rewrite what it lacks"
                )
    if mark is not None and mark.event_time > utcnow() + clock_skew:
        problems.append(
            f"the watermark {mark.event_time.isoformat()} is in the future: values are pinned. Run "
            f"`featurestore materialize --overwrite --end now --view {record.view}`"
        )
    target = None if active is None or active.watermark is None else active.watermark.event_time
    if record.status == "pending" and target is not None and (mark is None or mark.event_time < target):
        problems.append(
            f"pending: reads use {active.short if active else '-'} until this version is materialized up "
            f"to {target.isoformat()} (`featurestore materialize --view {record.view}`, or "
            f"`featurestore promote {record.view} --force`)"
        )
    return VersionStatus(
        view=record.view,
        version=record.short,
        status=record.status,
        project=record.project,
        watermark=None if mark is None else mark.event_time,
        materialized_at=None if mark is None else mark.updated_at,
        keys=keys,
        store=held,
        writers=len(record.live_writers()),
        problems=tuple(problems),
    )

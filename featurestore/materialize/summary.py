"""What a materialization did: one ``ViewRun`` per view, gathered in a ``MaterializeSummary``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featurestore.stats import Profiles
    from featurestore.validation.report import ValidationReport


@dataclass
class ViewRun:
    """What one view's materialization did."""

    view: str
    start: datetime | None
    end: datetime
    rows_read: int = 0
    rows_skipped: int = 0
    rows_expired: int = 0
    """Latest rows whose ttl had already run out by the wall clock: not written (they would read EXPIRED)."""
    entities_written: int = 0
    seconds: float = 0.0
    version: str = ""
    promoted: bool = False
    """The run completed a pending version, which now serves (the version it replaced is deleted)."""
    pending: bool = False
    """The version written is pending: it serves once materialized up to the active version's watermark."""
    notes: list[str] = field(default_factory=list)
    profiles: Profiles | None = None
    """The statistics of the values written (None with ``[materialize] statistics = false``)."""
    profile_seconds: float = 0.0
    """Time spent computing them."""
    run_number: int | None = None
    """The run's number in the run history (``featurestore stats VIEW --run N``)."""
    validation: ValidationReport | None = None
    """What the view's checks found in the rows to write (None: the view declares no checks)."""
    stopped: bool = False
    """An error-severity check failed: nothing of the view was written, its watermark is unchanged."""


@dataclass
class MaterializeSummary:
    """Every view's run, and what the whole run noticed about the online store.

    >>> summary = MaterializeSummary([ViewRun("a", None, datetime(2024, 1, 1), entities_written=2),
    ...                               ViewRun("b", None, datetime(2024, 1, 1), entities_written=3)])
    >>> summary.entities_written
    5
    """

    runs: list[ViewRun] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    evicted_keys: int | None = None
    """Keys the Redis server evicted while the run wrote (None: not known)."""
    values_deleted: int = 0
    """Values of retired versions deleted after the run."""

    @property
    def stopped(self) -> list[str]:
        """The views whose write a failed check stopped (the other views were written)."""
        return [r.view for r in self.runs if r.stopped]

    @property
    def entities_written(self) -> int:
        return sum(r.entities_written for r in self.runs)

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read for r in self.runs)

    @property
    def rows_skipped(self) -> int:
        return sum(r.rows_skipped for r in self.runs)

    @property
    def rows_expired(self) -> int:
        return sum(r.rows_expired for r in self.runs)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)

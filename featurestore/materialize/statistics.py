"""The feature statistics of a materialization run, taken from the batches as they are written.

The run loop passes its stream of batches (after the expired rows are dropped: what is written is what
is profiled) through :meth:`RunStatistics.watch`; nothing is read twice. With an engine that writes from
its workers, each partition profiles its own rows and the partitions' profiles are merged on the driver
(:meth:`RunStatistics.merge`). Every feature dtype is profiled; a type added later that is not would
be listed in ``skipped``. ``[materialize] statistics = false`` turns statistics off. Each run's
profiles are also compared with the view's previous run (:func:`drift_from_previous`); the drift is kept
with the run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.online.base import OnlineView
    from featurestore.registry.model import RegisteredView
    from featurestore.registry.state import StateStore
    from featurestore.stats import Profiler, Profiles, Thresholds


def profiled_columns(view: OnlineView) -> tuple[dict[str, str], list[str]]:
    """The features of ``view`` that are profiled (name -> dtype) and those that are not.

    >>> from featurestore.online.base import OnlineView
    >>> v = OnlineView("p", "v", "f", ("k",), ("int64",), (("x", "float64"), ("d", "date")), None)
    >>> profiled_columns(v)
    ({'x': 'float64', 'd': 'date'}, [])
    """
    from featurestore.stats.kinds import kind_of

    columns = {name: dtype for name, dtype in view.features if kind_of(dtype) is not None}
    return columns, [name for name, _ in view.features if name not in columns]


class RunStatistics:
    """The statistics of one view's run, accumulated batch by batch.

    ``seconds`` is the time spent profiling (what statistics add to the run).
    """

    def __init__(self, view: OnlineView) -> None:
        from featurestore.stats import Profiler

        columns, self.skipped = profiled_columns(view)
        self.view = view
        self.profiler: Profiler = Profiler(columns)
        self.rows = 0
        self.seconds = 0.0

    def watch(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The same batches, each profiled on its way through."""
        for batch in batches:
            began = time.perf_counter()
            self.profiler.update(batch)
            self.rows += batch.num_rows
            self.seconds += time.perf_counter() - began
            yield batch

    def merge(self, documents: Iterable[bytes]) -> None:
        """Add the profiles of partitions profiled elsewhere (``Profiles`` documents as JSON bytes)."""
        import json

        from featurestore.stats import Profiler, Profiles

        for raw in documents:
            part = Profiles.from_json(json.loads(raw), where="a partition's statistics")
            self.profiler.merge(Profiler.from_profiles(part.features))
            self.rows += part.rows

    def profiles(self, version: str) -> Profiles:
        """The run's profiles, for the run history."""
        from featurestore.stats import Profiles

        return Profiles.of(
            self.profiler,
            rows=self.rows,
            label=f"{self.view.name} (version {version})",
            view=self.view.name,
            version=version,
        )


def drift_from_previous(
    state: StateStore, view: str, profiles: Profiles, thresholds: Mapping[str, Thresholds] | None = None
) -> dict[str, Any] | None:
    """The drift of a run's profiles from the view's previous run that has statistics (any version),
    as a small document kept with the run (what ``/metrics`` exposes as gauges); None for a first run.

    ``{"reference_run": N, "features": {name: {"metrics": {...}, "exceeded": [...]}}}``
    """
    from featurestore.stats import Profiles, compare

    found = state.run_profiles(view)
    if found is None:
        return None
    record, document = found
    previous = Profiles.from_json(document, where=f"the statistics of run {record.run} of {view!r}")
    report = compare(previous, profiles, thresholds)
    return {
        "reference_run": record.run,
        "features": {
            d.feature: {"metrics": dict(d.metrics), "exceeded": list(d.exceeded)}
            for d in report.features
            if d.comparable
        },
    }


def declared_thresholds(rv: RegisteredView) -> dict[str, Thresholds]:
    """The drift thresholds a view's features declare (``MaxDrift`` checks), by feature name: the given
    metrics replace the defaults, the others keep them."""
    from featurestore.dsl.checks import MaxDrift
    from featurestore.stats import DEFAULT

    out: dict[str, Thresholds] = {}
    for feature in rv.view.features:
        for check in feature.checks:
            if isinstance(check, MaxDrift):
                given = {
                    m: getattr(check, m) for m in ("psi", "ks", "js", "linf") if getattr(check, m) is not None
                }
                out[feature.name] = out.get(feature.name, DEFAULT).with_values(given)
    return out

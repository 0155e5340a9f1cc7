"""The statistics of what was served: the feature log's values of one service in a time range, profiled.

This is the "current" side of drift against what a model was trained on: the values the feature
server actually answered with (nulls included: a key not found was served as null), not what the
offline store holds. Each log file is read and its rows in ``[start, end)`` (by request time) are
profiled batch by batch; columns are the service's features under full ``view__feature`` names, or, with
``view``, that view's features under their own names (to compare with a run of the view).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.errors import EntityRowsError
from featurestore.feature_logging.writer import META_FEATURES, META_SERVICE, REQUEST_TS

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.stats import Profiles
    from featurestore.storage import Storage


def _in_range(table: pa.Table, start: datetime | None, end: datetime | None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = table.column(REQUEST_TS)
    keep = None
    for bound, compare in ((start, pc.greater_equal), (end, pc.less)):
        if bound is None:
            continue
        aware = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
        test = compare(ts, pa.scalar(aware, ts.type))
        keep = test if keep is None else pc.and_(keep, test)
    return table if keep is None else table.filter(keep)


def profile_served(
    path: str | Path,
    service: str,
    *,
    storage: Storage | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    view: str | None = None,
) -> Profiles:
    """The profile of the values ``service`` served between ``start`` and ``end`` (request times; None:
    open), read from the feature log at ``path`` (a folder, a file or an ``s3://`` prefix)."""
    from featurestore.feature_logging.replay import log_tables
    from featurestore.stats import Profiler, Profiles

    profiler: Profiler | None = None
    names: dict[str, str] = {}
    rows = 0
    seen_services: set[str] = set()
    for _, table in log_tables(path, storage):
        info = table.schema.metadata or {}
        if META_SERVICE not in info:
            continue
        logged = info[META_SERVICE].decode()
        seen_services.add(logged)
        if logged != service:
            continue
        if profiler is None:
            import json

            refs: list[str] = json.loads(info[META_FEATURES])
            for ref in refs:
                owner, _, feature = ref.partition(":")
                if view is None or owner == view:
                    names[ref.replace(":", "__")] = feature if view is not None else ref.replace(":", "__")
            if not names:
                raise EntityRowsError(
                    f"feature service {service!r} logs no feature of view {view!r}; it logs: "
                    f"{', '.join(refs)}"
                )
            profiler = Profiler({names[c]: str(table.schema.field(c).type) for c in names})
        part = _in_range(table, start, end)
        if part.num_rows:
            profiler.update(part.select(list(names)).rename_columns([names[c] for c in names]))
            rows += part.num_rows
    if profiler is None:
        known = ", ".join(sorted(seen_services)) or "none"
        raise EntityRowsError(
            f"the feature log at {path} holds nothing of feature service {service!r} (services logged: "
            f"{known}); turn logging on for it (FeatureService(logging=FeatureLogging(...)))"
        )
    window = f"{start or 'the start'} to {end or 'now'}"
    label = f"served by {service}" + (f" ({view})" if view else "") + f", {window}"
    return Profiles.of(profiler, rows=rows, label=label, view=view)

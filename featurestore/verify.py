"""Online/offline consistency, measured: online values vs the training set at the watermark.

For each materialized view, pick entities from its source, read them online as of the view's
watermark ``T``, build a training set for entity rows stamped ``T``, and count the entities whose
values (or null-ness) differ. The contract says the mismatch rate is 0.

Aggregation views compute float sums, means and standard deviations two ways (running totals offline,
one GROUP BY or merged partial states online), so their floats are compared to a relative 1e-9;
every other value, and every value of a plain view, must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from featurestore.errors import MaterializationError
from featurestore.plan.build import scan_for
from featurestore.registry.model import RegisteredView
from featurestore.sql.duckdb import col, ident, source_table

if TYPE_CHECKING:
    from featurestore.registry.state import StateStore, Watermark
    from featurestore.store import FeatureStore


@dataclass
class ViewCheck:
    view: str
    at: datetime
    entities: int = 0
    mismatches: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.entities if self.entities else 0.0


def sample_entities(store: FeatureStore, rv: RegisteredView, at: datetime, sample: int | None) -> Any:
    """Distinct entity keys of the view's source with event time <= ``at`` (a stable sample)."""
    from sqlglot import exp

    scan = scan_for(rv, store.root)
    keys = [col(k) for k in rv.view.join_keys]
    query = (
        exp.select(*keys)
        .distinct()
        .from_(source_table(scan))
        .where(exp.and_(*[exp.Not(this=exp.Is(this=k.copy(), expression=exp.null())) for k in keys]))
    )
    outer = exp.select("*").from_(exp.Subquery(this=query, alias=exp.TableAlias(this=ident("k"))))
    outer = outer.order_by(exp.Anonymous(this="hash", expressions=[k.copy() for k in keys]))
    if sample is not None:
        outer = outer.limit(sample)
    return store.engine.to_arrow(outer.sql(dialect="duckdb"))


def check_view(store: FeatureStore, rv: RegisteredView, at: datetime, sample: int | None) -> ViewCheck:
    import pyarrow as pa

    check = ViewCheck(view=rv.name, at=at)
    entities = sample_entities(store, rv, at, sample)
    check.entities = entities.num_rows
    if entities.num_rows == 0:
        return check
    rows = entities.append_column(
        "event_timestamp", pa.array([at] * entities.num_rows, type=pa.timestamp("us"))
    )
    refs = [f"{rv.name}:{f}" for f in rv.view.feature_names]
    offline = store.get_training_set(rows, refs, full_feature_names=True).to_pylist_rows()
    online = store.get_online_features(
        refs, {k: entities.column(k).to_pylist() for k in rv.view.join_keys}, full_feature_names=True, now=at
    ).to_dict()
    for i, expected in enumerate(offline):
        got = {c: online[c][i] for c in expected if c.startswith(f"{rv.name}__")}
        want = {c: expected[c] for c in got}
        if got != want and not (rv.view.aggregations and close_enough(got, want)):
            check.mismatches += 1
            if len(check.examples) < 5:
                key = {k: expected[k] for k in rv.view.join_keys}
                check.examples.append({"key": key, "online": got, "offline": want})
    return check


def close_enough(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """Equal, except floats that agree to a relative (or absolute) 1e-9.

    >>> close_enough({"a": 0.1 + 0.2, "b": 1}, {"a": 0.3, "b": 1}), close_enough({"a": 1.0}, {"a": None})
    (True, False)
    """
    import math

    for name, value in want.items():
        other = got.get(name)
        if isinstance(value, float) and isinstance(other, float):
            if not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9):
                return False
        elif value != other:
            return False
    return got.keys() == want.keys()


def _watermark(state: StateStore, project: str, rv: RegisteredView) -> Watermark | None:
    """The watermark of the version holding the applied definition of ``rv``."""
    from featurestore.versions import current_record

    record = current_record(state.snapshot(), project, rv)
    return None if record is None else record.watermark


def verify(store: FeatureStore, sample: int | None, views: list[str] | None = None) -> list[ViewCheck]:
    """Check every materialized view (or the named ones) at its watermark."""
    from featurestore.registry.state import StateStore

    registry = store.registry
    state = StateStore(store.root)
    names = views or [n for n, rv in registry.views.items() if rv.view.online]
    checks = []
    for name in names:
        rv = registry.view(name)
        mark = _watermark(state, registry.project, rv)
        if mark is None:
            if views:
                raise MaterializationError(
                    f"feature view {name!r} has not been materialized in its current version; "
                    "run `featurestore materialize` first"
                )
            continue
        checks.append(check_view(store, rv, mark.event_time, sample))
    return checks

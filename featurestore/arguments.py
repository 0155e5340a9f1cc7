"""The arguments of ``FeatureStore``'s public methods, checked and normalized before any work starts, so a
mistake (``features=None``, ``end="yesterday"``, ``views="name"``) is one of the project's errors with
the fix, not a ``TypeError`` from deep inside (or a loop over the characters of a name).

>>> times("end", "2026-11-01T12:00:00")
datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
>>> names("views", "driver_stats")
['driver_stats']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from featurestore.config import format_duration, parse_time
from featurestore.errors import EntityRowsError, InvalidArgumentError, MaterializationError

if TYPE_CHECKING:
    from featurestore.dsl import FeatureService
    from featurestore.registry import RegisteredView, Registry

FEATURES_FIX = (
    "pass a list of 'view:feature' references (['driver_stats:conv_rate'], or ['driver_stats:*'] for every "
    "feature of a view), a FeatureService or its name"
)


def _a(value: Any) -> str:
    """``None``, or "an int", "a FeatureView": what a value is, for messages."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def features(value: Any) -> Iterable[str] | FeatureService | str:
    """A feature list as the registry resolves it: a service, its name, or a list of reference strings."""
    from featurestore.dsl import FeatureService, FeatureView, OnDemandFeatureView

    if isinstance(value, FeatureService | str):
        return value
    if isinstance(value, FeatureView | OnDemandFeatureView):
        raise InvalidArgumentError(f"features is {_view_fix(value)}")
    if value is None or isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"features is {_a(value)}; {FEATURES_FIX}")
    refs = list(value)
    for ref in refs:
        if isinstance(ref, FeatureView | OnDemandFeatureView):
            raise InvalidArgumentError(f"features holds {_view_fix(ref)}")
        if not isinstance(ref, str):
            raise InvalidArgumentError(f"features holds {_a(ref)} ({ref!r:.60}); {FEATURES_FIX}")
    return refs


def _view_fix(view: Any) -> str:
    return (
        f"the feature view {view.name!r} itself; name its features instead: ['{view.name}:*'] for all of "
        f"them, or ['{view.name}:<feature>', ...]"
    )


def times(name: str, value: Any) -> datetime | None:
    """A time argument: a datetime (naive = UTC), a date (midnight UTC), an ISO string or ``"now"``."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_time(value, allow_now=True)
        except ValueError:
            raise InvalidArgumentError(
                f"{name}={value[:60]!r} is not a time: pass a datetime, an ISO time like "
                "'2026-11-01T12:00:00Z' or '2026-11-01' (without a zone: UTC), or 'now'"
            ) from None
    raise InvalidArgumentError(
        f"{name} is {_a(value)}; pass a datetime, an ISO time string like '2026-11-01T12:00:00Z', or 'now'"
    )


def names(name: str, value: Any, example: str = "driver_stats") -> list[str] | None:
    """A list of view names: one name alone is that one view (not a list of its characters)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{name} is {_a(value)}; pass a list of view names, like ['{example}']")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            label = getattr(item, "name", None)
            fix = f"['{label}']" if isinstance(label, str) else f"['{example}']"
            raise InvalidArgumentError(f"{name} holds {_a(item)}; pass view names, like {fix}")
    return items


def view_name(value: Any, example: str = "driver_stats") -> str:
    """One view, by name."""
    if isinstance(value, str):
        return value
    label = getattr(value, "name", None)
    fix = f"{label!r}" if isinstance(label, str) else f"'{example}'"
    raise InvalidArgumentError(f"view is {_a(value)}; pass the view's name, like {fix}")


def entity_rows(value: Any, join_keys: Iterable[str]) -> Any:
    """Online entity rows: a list of dicts, a dict of columns, a DataFrame or Arrow table. A dict of plain
    values is one row."""
    from featurestore.dsl import Entity

    example = "[{" + ", ".join(f"'{k}': ..." for k in join_keys) + "}]"
    if isinstance(value, Mapping) and value and not any(_is_column(v) for v in value.values()):
        return [dict(value)]
    if isinstance(value, Entity):
        raise EntityRowsError(
            f"entity_rows is the entity {value.name!r} itself; pass the values of its join keys, one dict "
            f"per entity: {example}"
        )
    if value is None or isinstance(value, str | bytes | int | float):
        raise EntityRowsError(f"entity_rows is {_a(value)}; pass one dict per entity, like {example}")
    return value


def _is_column(value: Any) -> bool:
    """Whether a value in a dict of entity rows is a column of values rather than one value."""
    return not isinstance(value, str | bytes) and (isinstance(value, Iterable) or hasattr(value, "__len__"))


def check_end_reach(views: Iterable[RegisteredView], end: datetime | None) -> None:
    """Refuse an end so early that a view's look-back (ttl or window) from it falls before year 1."""
    if end is None:
        return
    for rv in views:
        reach = rv.view.lookback
        if reach is None:
            continue
        try:
            end - reach
        except OverflowError:
            raise MaterializationError(
                f"end {end.replace(tzinfo=None)} is too early for feature view {rv.name!r}{rv.view.where()}, "
                f"which looks back {format_duration(reach)} from it, to before year 1; give a real end time "
                "(or leave it out: now)"
            ) from None


def example_view(registry: Registry) -> str:
    """A view name of this repo, for the examples in messages."""
    return next(iter(registry.views), "driver_stats")

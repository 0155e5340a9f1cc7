"""What ``apply`` would change: added / changed / removed, data change vs metadata-only change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from featurestore.dsl import FeatureService, FeatureView
from featurestore.dsl.base import Definition
from featurestore.registry.model import Registry

ChangeKind = Literal["added", "removed", "data", "metadata"]


@dataclass(frozen=True)
class Change:
    """One object's change. ``data`` changes move a view to a new online namespace."""

    kind: ChangeKind
    object_type: str
    name: str
    detail: str = ""


@dataclass(frozen=True)
class RegistryDiff:
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.changes

    def of(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


def diff_registries(old: Registry | None, new: Registry) -> RegistryDiff:
    """Compare the applied registry with the one built from the definitions.

    >>> diff_registries(None, Registry(project="p")).empty
    True
    """
    changes: list[Change] = []
    before = old or Registry(project=new.project)
    for kind_name, old_map, new_map in (
        ("entity", before.entities, new.entities),
        ("source", before.sources, new.sources),
        ("feature service", before.services, new.services),
        ("on-demand feature view", before.on_demand_views, new.on_demand_views),
    ):
        for name in sorted(new_map.keys() - old_map.keys()):
            changes.append(Change("added", kind_name, name))
        for name in sorted(old_map.keys() - new_map.keys()):
            changes.append(Change("removed", kind_name, name))
        for name in sorted(old_map.keys() & new_map.keys()):
            a, b = _comparable(old_map[name]), _comparable(new_map[name])
            if a != b:
                fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                is_meta = set(fields) <= {"description", "tags", "owner"}
                changes.append(Change("metadata" if is_meta else "data", kind_name, name, ", ".join(fields)))
    for name in sorted(new.views.keys() - before.views.keys()):
        changes.append(Change("added", "feature view", name))
    for name in sorted(before.views.keys() - new.views.keys()):
        changes.append(Change("removed", "feature view", name))
    for name in sorted(before.views.keys() & new.views.keys()):
        old_view, new_view = before.views[name], new.views[name]
        detail = _view_fields(old_view.view, new_view.view)
        if old_view.data_fingerprint != new_view.data_fingerprint:
            changes.append(Change("data", "feature view", name, detail))
        elif old_view.metadata_fingerprint != new_view.metadata_fingerprint:
            changes.append(Change("metadata", "feature view", name, detail))
    return RegistryDiff(tuple(changes))


def _comparable(obj: Definition) -> dict[str, Any]:
    """What a diff compares: a service by its feature references, not by the views it embeds."""
    data = obj.model_dump(exclude={"defined_at"})
    if isinstance(obj, FeatureService):
        data["features"] = obj.feature_refs()
    return data


def _view_fields(a: FeatureView, b: FeatureView) -> str:
    da = a.model_dump(exclude={"defined_at"})
    db = b.model_dump(exclude={"defined_at"})
    return ", ".join(sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k)))

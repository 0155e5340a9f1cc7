"""What ``apply`` would change: added / changed / removed, each changed property old -> new, whether it is a
data or a metadata change, and what it does online, in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from featurestore.display import Table, count, html_of, plural, text
from featurestore.dsl import FeatureService, FeatureView
from featurestore.dsl.base import Definition
from featurestore.registry.model import Registry

ChangeKind = Literal["added", "removed", "data", "metadata"]
_METADATA = {"description", "tags", "owner", "online"}
_SHOWN = 60


@dataclass(frozen=True)
class Change:
    """One object's change. ``data`` changes of a view give it a new online version."""

    kind: ChangeKind
    object_type: str
    name: str
    detail: str = ""
    """The changed properties, old -> new (``ttl 3h -> 2h; features -a +b``)."""
    consequence: str = ""
    """What the change does online, in words."""


_KIND_LABELS = {
    "added": "added",
    "removed": "removed",
    "data": "changed (data)",
    "metadata": "changed (metadata)",
}


@dataclass(frozen=True, repr=False)
class RegistryDiff:
    """What ``apply`` would change. Shows as a table of changes, old -> new (text, and HTML in a notebook).

    >>> print(RegistryDiff((Change("metadata", "feature view", "v", "owner 'a' -> 'b'", "nothing moves"),),
    ...                    base_version=3))
    RegistryDiff against registry version 3: 1 change (1 changed)
    ┌────────────────────┬──────────────┬──────┬───────────────────┬───────────────┐
    │ change             ┆ object       ┆ name ┆ what (old -> new) ┆ online        │
    ╞════════════════════╪══════════════╪══════╪═══════════════════╪═══════════════╡
    │ changed (metadata) ┆ feature view ┆ v    ┆ owner 'a' -> 'b'  ┆ nothing moves │
    └────────────────────┴──────────────┴──────┴───────────────────┴───────────────┘
    """

    changes: tuple[Change, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()
    """Things the definitions allow but a user should know (for example late events a run will miss)."""
    base_version: int | None = None
    """The registry version the diff was computed against (0: nothing applied; None: not read)."""
    next_steps: tuple[str, ...] = ()
    """After ``apply``: the SDK calls that write the views online and read them back (empty for ``plan``)."""

    @property
    def empty(self) -> bool:
        return not self.changes

    def of(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def _table(self) -> Table:
        if self.base_version is None:
            against = "RegistryDiff"
        elif self.base_version == 0:
            against = "RegistryDiff against an empty registry"
        else:
            against = f"RegistryDiff against registry version {count(self.base_version)}"
        added, removed = len(self.of("added")), len(self.of("removed"))
        changed = len(self.changes) - added - removed
        counts = [
            f"{count(n)} {word}" for n, word in ((added, "added"), (changed, "changed"), (removed, "removed"))
        ]
        counted = ", ".join(c for c in counts if not c.startswith("0 "))
        summary = f"{plural(len(self.changes), 'change')} ({counted})"
        notes = tuple(f"warning: {w}" for w in self.warnings) + tuple(f"next: {n}" for n in self.next_steps)
        if self.empty:
            return Table(f"{against}: no changes", (), notes=notes)
        rows = tuple(
            (_KIND_LABELS[c.kind], c.object_type, c.name, c.detail, c.consequence) for c in self.changes
        )
        columns = ("change", "object", "name", "what (old -> new)", "online")
        return Table(f"{against}: {summary}", columns, rows, notes=notes)

    def __repr__(self) -> str:
        return text([self._table()])

    def _repr_html_(self) -> str:
        return html_of([self._table()])


_PENDING = (
    "a new online version; the active one keeps serving until `featurestore materialize` has written the "
    "new one up to its watermark, then reads switch to it and the old values are deleted"
)


def diff_registries(old: Registry | None, new: Registry) -> RegistryDiff:
    """Compare the applied registry with the one built from the definitions.

    >>> diff_registries(None, Registry(project="p")).empty
    True
    >>> diff_registries(Registry(project="p"), Registry(project="q")).changes[0].detail
    "project 'p' -> 'q'"
    """
    changes: list[Change] = []
    before = old or Registry(project=new.project)
    if before.project != new.project:
        changes.append(
            Change(
                "data",
                "project",
                new.project,
                f"project {before.project!r} -> {new.project!r}",
                f"every online view gets a new version under project {new.project!r}; {_PENDING}",
            )
        )
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
                kind: ChangeKind = "metadata" if set(fields) <= _METADATA else "data"
                changes.append(Change(kind, kind_name, name, describe(a, b)))
    for name in sorted(new.views.keys() - before.views.keys()):
        online = new.views[name].view.online
        consequence = "nothing online until `featurestore materialize`" if online else "offline only"
        changes.append(Change("added", "feature view", name, consequence=consequence))
    for name in sorted(before.views.keys() - new.views.keys()):
        changes.append(
            Change("removed", "feature view", name, consequence="its online values are deleted at apply")
        )
    for name in sorted(before.views.keys() & new.views.keys()):
        old_view, new_view = before.views[name], new.views[name]
        detail = describe(_view_fields(old_view.view), _view_fields(new_view.view))
        if old_view.data_fingerprint != new_view.data_fingerprint:
            consequence = _PENDING if new_view.view.online else "offline only: nothing online moves"
            changes.append(Change("data", "feature view", name, detail, consequence))
        elif old_view.metadata_fingerprint != new_view.metadata_fingerprint:
            changes.append(Change("metadata", "feature view", name, detail, "nothing moves online"))
    return RegistryDiff(tuple(changes))


def describe(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Each changed property, old -> new; lists of named things as what left and what came.

    >>> describe({"ttl": timedelta(hours=3), "features": ["a int64", "b int64"]},
    ...          {"ttl": timedelta(hours=2), "features": ["a int64", "c int64"]})
    'features -b +c; ttl 3h -> 2h'
    """
    parts = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, list) and isinstance(b, list):
            parts.append(f"{key} {_list_change(a, b)}")
        elif isinstance(a, dict) and isinstance(b, dict):
            inner = describe(a, b)
            parts.extend(f"{key}.{p}" for p in inner.split("; ") if p)
        else:
            parts.append(f"{key} {_show(a)} -> {_show(b)}")
    return "; ".join(parts)


def _list_change(old: list[Any], new: list[Any]) -> str:
    """``-gone +came``; entries ``"name type"`` whose type changed read ``name type -> type``.

    >>> _list_change(["a int64", "b int64"], ["a float64", "c int64"])
    '-b +c a int64 -> float64'
    >>> _list_change(["driver(driver_id)"], ["chauffeur(driver_id)"])
    '-driver(driver_id) +chauffeur(driver_id)'
    """
    named = all(isinstance(x, str) and " " in x for x in (*old, *new))
    olds = dict(x.split(" ", 1) for x in old) if named else {}
    news = dict(x.split(" ", 1) for x in new) if named else {}
    if named:
        gone = [n for n in olds if n not in news]
        came = [n for n in news if n not in olds]
        retyped = [f"{n} {olds[n]} -> {news[n]}" for n in olds if n in news and olds[n] != news[n]]
    else:
        gone = [x if isinstance(x, str) else _show(x) for x in old if x not in new]
        came = [x if isinstance(x, str) else _show(x) for x in new if x not in old]
        retyped = []
    words = [*(f"-{x}" for x in gone), *(f"+{x}" for x in came), *retyped]
    return " ".join(words) if words else "reordered"


def _show(value: Any) -> str:
    from featurestore.config import format_duration

    if value is None:
        return "none"
    text = format_duration(value) if isinstance(value, timedelta) else repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _comparable(obj: Definition) -> dict[str, Any]:
    """What a diff compares: a service by its feature references, not by the views it embeds."""
    data = obj.model_dump(exclude={"defined_at"})
    if isinstance(obj, FeatureService):
        data["features"] = obj.feature_refs()
    return data


def _view_fields(view: FeatureView) -> dict[str, Any]:
    """A view's properties as people name them: features as ``name dtype``, entities by name."""
    data = view.model_dump(exclude={"defined_at"})
    data["features"] = [f"{f.name} {f.dtype}" for f in view.features]
    data["checks"] = {name or "view": text for name, text in view.checks_by_feature().items()}
    data["entities"] = [f"{e.name}({', '.join(e.join_keys)})" for e in view.entities]
    source = data.get("source")
    if isinstance(source, dict):
        source.pop("defined_at", None)
    if view.aggregations:
        data["aggregations"] = [f"{a.name} {a.function}({a.column}, {a.window})" for a in view.aggregations]
    return data

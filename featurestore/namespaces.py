"""Registered views -> online namespaces, and the clean-up of namespaces no view uses any more.

A view's namespace is (project, view name, data fingerprint): a data change moves it to a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.registry.model import RegisteredView, Registry
from featurestore.registry.state import StateStore

if TYPE_CHECKING:
    from featurestore.online.base import OnlineStore, OnlineView


def online_view(project: str, rv: RegisteredView) -> OnlineView:
    """What an online store needs to know about a registered view."""
    from featurestore.online.base import OnlineView

    view = rv.view
    return OnlineView(
        project=project,
        name=view.name,
        version=rv.data_fingerprint,
        join_keys=view.join_keys,
        key_dtypes=tuple(rv.key_dtype(k) for k in view.join_keys),
        features=tuple((f.name, f.dtype) for f in view.features),
        ttl=view.ttl,
    )


def stale_namespaces(registry: Registry, state: StateStore) -> list[tuple[str, str | None]]:
    """(view, version to keep) for every view that wrote a namespace that is no longer current."""
    stale = []
    for view, versions in sorted(state.namespaces().items()):
        current = registry.views.get(view)
        keep = current.data_fingerprint if current is not None else None
        if any(v != keep for v in versions):
            stale.append((view, keep))
    return stale


def remove_stale_namespaces(registry: Registry, state: StateStore, store: OnlineStore) -> int:
    """Delete what removed or replaced views left online; returns the number of values deleted."""
    deleted = 0
    for view, keep in stale_namespaces(registry, state):
        deleted += store.delete_namespaces(registry.project, view, keep)
        state.forget_namespaces(view, keep)
    return deleted

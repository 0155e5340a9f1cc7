"""What to do after ``apply``: the calls that write a registry's views online and read them back."""

from __future__ import annotations

from featurestore.registry.model import Registry


def next_steps(registry: Registry) -> tuple[str, ...]:
    """The SDK calls that follow an apply of ``registry``: materialize, then read online.

    The read names the registry's first feature service (else its first view) and its join keys.

    >>> from featurestore.dsl import Entity, Feature, FeatureView, FileSource
    >>> from featurestore.registry import RegisteredView
    >>> view = FeatureView(name="driver_stats", entities=[Entity(name="driver", join_keys=["driver_id"])],
    ...                    source=FileSource(name="s", path="s.parquet"), ttl=None,
    ...                    features=[Feature("conv_rate", "float64")])
    >>> registered = RegisteredView(view=view, data_fingerprint="d", metadata_fingerprint="m",
    ...                             source_schema={})
    >>> for step in next_steps(Registry(project="p", views={"driver_stats": registered})):
    ...     print(step)
    store.materialize(end=datetime.now(UTC))  # write the latest values online
    store.get_online_features(["driver_stats:conv_rate"], [{"driver_id": ...}])  # read them
    >>> next_steps(Registry(project="p"))
    ()
    """
    if not registry.views:
        return ()
    if registry.services:
        service = registry.services[min(registry.services)]
        features = repr(service.name).replace("'", '"')
        views = [p.view.name for p in service.features if p.view.name in registry.views]
    else:
        first = registry.views[min(registry.views)].view
        features = "[" + ", ".join(f'"{first.name}:{f}"' for f in first.feature_names[:2]) + "]"
        views = [first.name]
    keys = dict.fromkeys(k for v in views for k in registry.views[v].view.join_keys)
    row = "{" + ", ".join(f'"{k}": ...' for k in keys) + "}"
    return (
        "store.materialize(end=datetime.now(UTC))  # write the latest values online",
        f"store.get_online_features({features}, [{row}])  # read them",
    )

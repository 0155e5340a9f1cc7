"""What the definitions or a request allow but a user should know before reading fails or misleads.

``shared_feature_names``: a feature service whose views share a feature name is accepted, but reading
it without full feature names fails; ``apply`` and ``plan`` warn about it. ``as_known_at_ignored``: an
``as_known_at=True`` request in which no view's source has a created timestamp changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from featurestore.dsl import FeatureService
from featurestore.registry.model import Registry

_FLAGS = 'full_feature_names=True (CLI: --full-feature-names, HTTP: "full_feature_names": true)'


def shared_feature_names(registry: Registry) -> list[str]:
    """One warning per feature service and feature name that two or more of its views share.

    >>> from featurestore.dsl import Entity, Feature, FeatureView, FileSource
    >>> e = Entity(name="flight", join_keys=["flight_id"])
    >>> def view(name: str) -> FeatureView:
    ...     return FeatureView(name=name, entities=[e], ttl=None,
    ...                        source=FileSource(name=name, path="f.parquet"),
    ...                        features=[Feature("dep_delay_mean_1h", "float64")])
    >>> service = FeatureService(name="delays", features=[view("by_origin"), view("by_carrier")],
    ...                          defined_at="definitions/delays.py:30")
    >>> print(shared_feature_names(Registry(project="p", services={"delays": service}))[0])
    feature service 'delays' (definitions/delays.py:30) has feature 'dep_delay_mean_1h' in views \
'by_origin' and 'by_carrier': reading it fails unless columns are named 'view__feature'. Read it \
with full_feature_names=True (CLI: --full-feature-names, HTTP: "full_feature_names": true), or \
rename the feature in all but one view, or leave it out of the service with view[[...]].
    """
    warnings = []
    for name in sorted(registry.services):
        service = registry.services[name]
        views: dict[str, list[str]] = {}
        for projection in service.features:
            for feature in projection.features:
                found = views.setdefault(feature, [])
                if projection.view.name not in found:
                    found.append(projection.view.name)
        for feature, names in views.items():
            if len(names) < 2:
                continue
            listed = " and ".join(", ".join(repr(n) for n in names).rsplit(", ", 1))
            warnings.append(
                f"feature service {name!r}{service.where()} has feature {feature!r} in views {listed}: "
                "reading it fails unless columns are named 'view__feature'. "
                f"Read it with {_FLAGS}, or rename the feature in all but one view, or leave it out of "
                "the service with view[[...]]."
            )
    return warnings


def as_known_at_ignored(registry: Registry, features: Iterable[str] | FeatureService | str) -> str | None:
    """Why ``as_known_at=True`` changes nothing for ``features`` (no view read has a created timestamp),
    or None when some view has one (or no view is read: only request data).

    >>> from featurestore.dsl import Entity, Feature, FeatureView, FileSource
    >>> from featurestore.registry.model import RegisteredView
    >>> v = FeatureView(name="stats", entities=[Entity(name="d", join_keys=["id"])], ttl=None,
    ...                 source=FileSource(name="s", path="s.parquet"), features=[Feature("a", "int64")])
    >>> rv = RegisteredView(view=v, data_fingerprint="d", metadata_fingerprint="m", source_schema={})
    >>> print(as_known_at_ignored(Registry(project="p", views={"stats": rv}), ["stats:a"]))
    as_known_at=True changes nothing: no requested view's source has a created timestamp (view 'stats': \
source 's'), so every row is known from its event time. Give the source a created timestamp column \
(created_timestamp_field=...), or drop as_known_at.
    """
    if isinstance(features, str):
        refs = registry.service(features).feature_refs() if ":" not in features else [features]
    elif isinstance(features, FeatureService):
        refs = features.feature_refs()
    else:
        refs = list(features)
    names: list[str] = []
    for ref in refs:
        view = ref.split(":", 1)[0]
        odfv = registry.on_demand_views.get(view)
        for name in [p.view.name for p in odfv.view_inputs] if odfv is not None else [view]:
            if name in registry.views and name not in names:
                names.append(name)
    if not names or any(registry.views[n].view.source.created_timestamp_field for n in names):
        return None
    listed = ", ".join(f"view {n!r}: source {registry.views[n].view.source.name!r}" for n in names)
    return (
        "as_known_at=True changes nothing: no requested view's source has a created timestamp "
        f"({listed}), so every row is known from its event time. Give the source a created timestamp "
        "column (created_timestamp_field=...), or drop as_known_at."
    )

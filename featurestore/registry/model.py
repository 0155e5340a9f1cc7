"""The registry's content: what was applied, with fingerprints and source schemas."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from featurestore.dsl import Entity, FeatureService, FeatureView, FileSource, OnDemandFeatureView, SqlSource
from featurestore.dsl.source import Source
from featurestore.errors import (
    FeatureNameCollisionError,
    UnknownFeatureError,
    UnknownServiceError,
    UnknownViewError,
    did_you_mean,
)
from featurestore.registry.upgrade import FORMAT, upgrade

REGISTRY_FORMAT = FORMAT  # 3: on-demand functions' code recorded (registry/upgrade.py)


class RegisteredView(BaseModel):
    """A feature view as applied: the definition, its fingerprints and its source's column types.

    ``source_schema`` maps each source column to its Arrow type name (``dsl/dtypes.py``), such as
    ``int64``, ``string`` or ``timestamp[ns, tz=UTC]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    view: FeatureView
    data_fingerprint: str
    metadata_fingerprint: str
    source_schema: dict[str, str]

    @property
    def name(self) -> str:
        return self.view.name

    def key_dtype(self, key: str) -> str:
        """``int64`` or ``string``: how the online store encodes this join key."""
        kind = self.source_schema.get(key, "int64")
        return "string" if kind in ("string", "binary") else "int64"


class FunctionOrigin(BaseModel):
    """Where an on-demand view's function was taken from at apply.

    ``in_definitions``: defined in ``definitions/`` (rebuilt from :attr:`OnDemandCode.definitions`);
    otherwise imported from ``module``, an installed package's module. ``qualname`` finds it in the module.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    module: str
    qualname: str
    in_definitions: bool


class OnDemandCode(BaseModel):
    """The code of the applied on-demand views, so a process without ``definitions/`` can run them.

    ``functions``: each on-demand view's :class:`FunctionOrigin`, by view name; ``definitions``: the text
    of every ``definitions/`` Python file (``definitions/drivers.py`` -> source), kept once per registry
    and only when a function is defined there. Not part of any fingerprint: the function's own source is
    (``OnDemandFeatureView.function_source``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    functions: dict[str, FunctionOrigin] = {}
    definitions: dict[str, str] = {}


class Registry(BaseModel):
    """Everything applied in one repo. Looked up by name; errors suggest close names."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: int = REGISTRY_FORMAT
    project: str
    entities: dict[str, Entity] = {}
    sources: dict[str, Source] = {}
    views: dict[str, RegisteredView] = {}
    services: dict[str, FeatureService] = {}
    on_demand_views: dict[str, OnDemandFeatureView] = {}
    on_demand_code: OnDemandCode | None = None
    """Where the on-demand functions come from; ``None`` in registries applied before format 3 (their
    functions are taken from the repo's ``definitions/``) and in registries without on-demand views."""

    def view(self, name: str) -> RegisteredView:
        try:
            return self.views[name]
        except KeyError:
            raise UnknownViewError(
                f"feature view {name!r} is not registered. " + did_you_mean(name, self.views)
            ) from None

    def service(self, name: str) -> FeatureService:
        try:
            return self.services[name]
        except KeyError:
            raise UnknownServiceError(
                f"feature service {name!r} is not registered. " + did_you_mean(name, self.services)
            ) from None

    def resolve(
        self, features: Iterable[str] | FeatureService | str
    ) -> list[tuple[RegisteredView, list[str]]]:
        """Turn ``["view:feature", ...]``, a service, or a service name into (view, features) groups.

        Groups keep the order in which each view first appears; features keep the requested order.
        """
        groups: dict[str, list[str]] = {}
        for view_name, feature in self.expand(features):
            groups.setdefault(view_name, []).append(feature)
        return [(self.views[name], feats) for name, feats in groups.items()]

    def expand(self, features: Iterable[str] | FeatureService | str) -> list[tuple[str, str]]:
        """Every requested (view, feature), validated, in the requested order (``view:*`` expanded)."""
        if isinstance(features, FeatureService):
            refs = features.feature_refs()
        elif isinstance(features, str):
            refs = self.service(features).feature_refs() if ":" not in features else [features]
        else:
            refs = list(features)
        if not refs:
            raise UnknownFeatureError("no features were requested: pass ['view:feature', ...] or a service")
        pairs: list[tuple[str, str]] = []
        for ref in refs:
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise UnknownFeatureError(
                    f"feature reference {ref!r} is not of the form 'view:feature' "
                    "(for example 'driver_stats:conv_rate')"
                )
            view_name, feature = ref.split(":")
            registered = self.view(view_name)
            if feature == "*":
                wanted = list(registered.view.feature_names)
            else:
                registered.view.feature(feature)
                wanted = [feature]
            for name in wanted:
                if (view_name, name) in pairs:
                    raise FeatureNameCollisionError(f"feature {view_name}:{name} is requested twice")
                pairs.append((view_name, name))
        return pairs

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str) -> Registry:
        """A registry from its JSON text; files of older formats are upgraded (``registry/upgrade.py``)."""
        current = json.dumps(upgrade(json.loads(text)))
        data: dict[str, Any] = cls.model_validate_json(current).model_dump()
        return cls.model_validate(data)


def output_names(
    groups: list[tuple[RegisteredView, list[str]]], full_feature_names: bool, taken: Iterable[str] = ()
) -> list[list[str]]:
    """Output column names per group; a collision without full names is an error that says so."""
    names = [[f"{rv.name}__{f}" if full_feature_names else f for f in feats] for rv, feats in groups]
    seen: dict[str, str] = dict.fromkeys(taken, "the entity rows")
    for (rv, feats), outs in zip(groups, names, strict=True):
        for feat, out in zip(feats, outs, strict=True):
            if out in seen:
                raise FeatureNameCollisionError(
                    f"output column {out!r} from {rv.name}:{feat} collides with {seen[out]}. "
                    "Pass {flag} to name columns 'view__feature', "
                    "or rename the column in the entity rows."
                )
            seen[out] = f"{rv.name}:{feat}"
    return names


def column_order(
    pairs: list[tuple[str, str]], groups: list[tuple[RegisteredView, list[str]]], outputs: list[list[str]]
) -> tuple[str, ...]:
    """The output columns in the requested order (groups are per view; the request may interleave)."""
    by_ref = {
        (rv.name, feat): out
        for (rv, feats), outs in zip(groups, outputs, strict=True)
        for feat, out in zip(feats, outs, strict=True)
    }
    return tuple(by_ref[pair] for pair in pairs)


__all__ = [
    "FileSource",
    "FunctionOrigin",
    "OnDemandCode",
    "RegisteredView",
    "Registry",
    "SqlSource",
    "column_order",
    "output_names",
]

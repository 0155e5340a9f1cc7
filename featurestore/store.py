"""FeatureStore: the one object users hold. A thin facade; the work lives in the modules it calls."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.config import RepoConfig, load_config
from featurestore.errors import RegistryError

if TYPE_CHECKING:
    from featurestore.dsl import FeatureService
    from featurestore.engines.base import Engine
    from featurestore.registry import Definitions, Registry, RegistryDiff
    from featurestore.retrieve.training import TrainingSet


class FeatureStore:
    """A feature repo: ``featurestore.toml`` (optional) and ``definitions/`` under ``root``.

    >>> store = FeatureStore(".")                       # doctest: +SKIP
    >>> store.apply()                                   # doctest: +SKIP
    >>> store.get_training_set(entity_df, ["driver_stats:conv_rate"]).to_polars()  # doctest: +SKIP
    """

    def __init__(self, root: str | Path = ".", *, config: RepoConfig | None = None) -> None:
        self.root = Path(root).resolve()
        self.config = config or load_config(self.root)
        self._engine: Engine | None = None
        self._registry: Registry | None = None

    @property
    def project(self) -> str:
        return self.config.project

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from featurestore.engines import open_engine

            self._engine = open_engine(self.config.offline, self.root)
        return self._engine

    # -- definitions and the registry ---------------------------------------------------------

    def load_definitions(self) -> Definitions:
        from featurestore.registry import load_definitions

        return load_definitions(self.root)

    def _planned_registry(self) -> tuple[Registry, Registry | None]:
        from featurestore.apply import build_registry
        from featurestore.registry import read_registry

        new = build_registry(self.load_definitions(), self.engine, self.root, self.project)
        return new, read_registry(self.root)

    def plan(self) -> RegistryDiff:
        """What ``apply`` would change, without writing anything."""
        from featurestore.registry import diff_registries

        new, old = self._planned_registry()
        return diff_registries(old, new)

    def apply(self) -> RegistryDiff:
        """Check the definitions against their sources and write the registry atomically."""
        from featurestore.registry import diff_registries, read_registry, write_registry
        from featurestore.registry.storage import registry_lock

        with registry_lock(self.root):
            new, _ = self._planned_registry()
            old = read_registry(self.root)
            diff = diff_registries(old, new)
            if not diff.empty or old is None:
                write_registry(self.root, new)
        self._registry = new
        return diff

    @property
    def registry(self) -> Registry:
        """The applied registry (re-read when the file changes)."""
        from featurestore.registry import read_registry

        registry = read_registry(self.root)
        if registry is None:
            raise RegistryError(
                f"nothing is applied in {self.root}: run `featurestore apply` (or store.apply()) first"
            )
        self._registry = registry
        return registry

    # -- training sets ------------------------------------------------------------------------

    def get_training_set(
        self,
        entity_df: Any,
        features: Iterable[str] | FeatureService | str,
        *,
        full_feature_names: bool = False,
        timestamp_column: str = "event_timestamp",
        as_known_at: bool = False,
    ) -> TrainingSet:
        """Point-in-time-correct features for each entity row (see DESIGN's semantics).

        ``features``: ``["view:feature", ...]``, ``["view:*"]``, a FeatureService or its name.
        ``as_known_at=True`` also requires ``created <= t`` so back-filled values cannot leak.
        """
        from featurestore.retrieve.training import build_training_set

        return build_training_set(
            self.registry,
            self.engine,
            self.root,
            entity_df,
            features,
            full_feature_names=full_feature_names,
            timestamp_column=timestamp_column,
            as_known_at=as_known_at,
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

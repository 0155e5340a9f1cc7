"""FeatureStore: the one object users hold. A thin facade; the work lives in the modules it calls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from os import stat as _stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.config import RepoConfig, load_config
from featurestore.errors import RegistryError

if TYPE_CHECKING:
    from featurestore.dsl import FeatureService
    from featurestore.engines.base import Engine
    from featurestore.feature_logging import FeatureSkew
    from featurestore.materialize import MaterializeSummary, Progress
    from featurestore.online.base import OnlineStore
    from featurestore.push import PushResult
    from featurestore.registry import Definitions, Registry, RegistryDiff
    from featurestore.retrieve.on_demand import OnDemandRequest, OnDemandResponse
    from featurestore.retrieve.online import OnlineRequest, OnlineResponse
    from featurestore.retrieve.training import TrainingSet
    from featurestore.verify import ViewCheck


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
        self._registry_stamp: int | None = None
        from featurestore.registry.storage import registry_path

        self._registry_file = str(registry_path(self.root))
        self._online: OnlineStore | None = None
        self._requests: dict[tuple[Any, ...], OnlineRequest | OnDemandRequest] = {}

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
        self.remove_stale_namespaces(new)
        return diff

    def remove_stale_namespaces(self, registry: Registry | None = None) -> int:
        """Delete online values of removed views and of old versions of changed views."""
        from featurestore.namespaces import remove_stale_namespaces, stale_namespaces
        from featurestore.registry.state import StateStore

        state = StateStore(self.root)
        registry = registry or self.registry
        if not stale_namespaces(registry, state):  # nothing to do: don't even connect
            return 0
        return remove_stale_namespaces(registry, state, self.online_store)

    @property
    def registry(self) -> Registry:
        """The applied registry, re-read only when the registry file changes."""
        # On every online read: one stat of a cached path string, no pathlib and no imports.
        try:
            stamp = _stat(self._registry_file).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if self._registry is not None and stamp is not None and stamp == self._registry_stamp:
            return self._registry
        from featurestore.registry import read_registry

        registry = read_registry(self.root)
        if registry is None:
            raise RegistryError(
                f"nothing is applied in {self.root}: run `featurestore apply` (or store.apply()) first"
            )
        self._registry, self._registry_stamp = registry, stamp
        self._requests.clear()
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
        On-demand features read their request data from the entity rows' columns.
        """
        from featurestore.retrieve.on_demand import build_on_demand_training_set
        from featurestore.retrieve.training import build_training_set

        with_on_demand = build_on_demand_training_set(
            self.registry,
            self.engine,
            self.root,
            entity_df,
            features,
            full_feature_names=full_feature_names,
            timestamp_column=timestamp_column,
            as_known_at=as_known_at,
        )
        if with_on_demand is not None:
            return with_on_demand
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

    # -- online -------------------------------------------------------------------------------

    @property
    def online_store(self) -> OnlineStore:
        if self._online is None:
            from featurestore.online.factory import open_online_store

            self._online = open_online_store(self.config.online, self.root)
        return self._online

    def materialize(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        views: Iterable[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> MaterializeSummary:
        """Write the latest value per entity as of ``end`` (default: now) of rows from ``start`` on."""
        return self._materialize(start, end, views, incremental=False, progress=progress)

    def materialize_incremental(
        self,
        end: datetime | None = None,
        views: Iterable[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> MaterializeSummary:
        """Materialize what changed since each view's watermark, late-arriving rows included."""
        return self._materialize(None, end, views, incremental=True, progress=progress)

    def _materialize(
        self,
        start: datetime | None,
        end: datetime | None,
        views: Iterable[str] | None,
        *,
        incremental: bool,
        progress: Progress | None,
    ) -> MaterializeSummary:
        from featurestore.materialize import Materializer, select_views
        from featurestore.registry.state import StateStore

        registry = self.registry
        chosen = select_views(registry, views)
        materializer = Materializer(
            registry,
            self.engine,
            self.online_store,
            StateStore(self.root),
            self.root,
            batch_size=self.config.materialize.batch_size,
            lookback=self.config.materialize.lookback,
            progress=progress,
        )
        return materializer.run(chosen, start=start, end=end or datetime.now(UTC), incremental=incremental)

    def get_online_features(
        self,
        features: Iterable[str] | FeatureService | str,
        entity_rows: Any,
        *,
        full_feature_names: bool = False,
        now: datetime | None = None,
        request_data: Mapping[str, Any] | None = None,
    ) -> OnlineResponse | OnDemandResponse:
        """The latest values for ``entity_rows`` (``[{"driver_id": 1001}, ...]`` or a dict of columns).

        One round trip to the online store per call; the request plan is compiled once per feature
        list. ``now`` is the time the ttl is measured against (default: the current time).
        ``request_data`` holds the inputs of on-demand features, one column per request field.
        """
        from featurestore.retrieve.online import OnlineRequest, read_online

        request = self.compile_online(features, full_feature_names)
        if type(request) is OnlineRequest:
            return read_online(self.online_store, request, entity_rows, now)
        assert not isinstance(request, OnlineRequest)
        return request.read(self.online_store, entity_rows, request_data, now)

    def compile_online(
        self, features: Iterable[str] | FeatureService | str, full_feature_names: bool = False
    ) -> OnlineRequest | OnDemandRequest:
        """The compiled online request for a feature list: built once, then served from a cache that
        is dropped when the registry changes."""
        from featurestore.dsl import FeatureService

        registry = self.registry
        named: Any = (
            features.name
            if isinstance(features, FeatureService)
            else (features if isinstance(features, str) else tuple(features))
        )
        cache_key = (named, full_feature_names)
        request = self._requests.get(cache_key)
        if request is None:
            from featurestore.retrieve.on_demand import compile_online

            request = compile_online(registry, features, full_feature_names, self.root)
            self._requests[cache_key] = request
        return request

    def push(self, view: str, rows: Any, *, to: str = "online") -> PushResult:
        """Write fresh rows of ``view`` online (newer-wins), offline (its push log), or ``"both"``.

        ``rows``: a list of dicts, a dict of columns, or a DataFrame / Arrow table holding every join key,
        the source's event-timestamp column and every feature (the created-timestamp column is optional).
        They are checked against the view's schema first: on a mismatch nothing is written.
        """
        from featurestore.push import push_rows

        registry = self.registry
        rv = registry.view(view)
        online = self.online_store if to in ("online", "both") else None
        # The registry's project names the online namespaces (materialize and reads use it too).
        return push_rows(rv, rows, to=to, project=registry.project, root=self.root, online=online)

    def verify(self, sample: int | None = 1000, views: list[str] | None = None) -> list[ViewCheck]:
        """Online vs offline at each view's watermark, per online view: how many sampled entities
        match, mismatch, are missing, expired or newer online (failures: mismatch + missing, 0 expected)."""
        from featurestore.verify import verify

        return verify(self, sample, views)

    def verify_log(self, path: str | Path) -> list[FeatureSkew]:
        """Served values logged by feature logging vs the same rows recomputed offline, per feature."""
        from featurestore.feature_logging import verify_log

        return verify_log(self, path)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._online is not None:
            self._online.close()
            self._online = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

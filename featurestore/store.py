"""FeatureStore: the one object users hold. A thin facade; the work lives in the modules it calls."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from os import stat as _stat
from pathlib import Path
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any

from featurestore.config import RepoConfig, load_config
from featurestore.errors import (
    FeatureStoreError,
    OnlineStoreError,
    RegistryConflictError,
    RegistryError,
    SourceError,
)

if TYPE_CHECKING:
    from featurestore.dsl import FeatureService
    from featurestore.engines.base import Engine
    from featurestore.feature_logging import FeatureSkew
    from featurestore.materialize import MaterializeSummary, Progress
    from featurestore.online.base import OnlineStore
    from featurestore.push import PushResult
    from featurestore.registry import Definitions, Registry, RegistryDiff
    from featurestore.registry.backend import RegistryBackend
    from featurestore.registry.state import RunRecord, ViewVersion
    from featurestore.retrieve.on_demand import OnDemandRequest, OnDemandResponse
    from featurestore.retrieve.online import OnlineRequest, OnlineResponse
    from featurestore.retrieve.training import TrainingSet
    from featurestore.stats import Profiles
    from featurestore.status import VersionStatus
    from featurestore.storage import Storage
    from featurestore.validation import ValidationReport
    from featurestore.verify import ViewCheck
    from featurestore.versions import ServedView


FILES_RECHECK = 0.1
"""Seconds between two looks (a stat each) at the registry and state files by a reading store: an
``apply``, ``materialize`` or ``promote`` of another process is served at most this late (the old
values of a replaced version stay ``versions.RETIRE_GRACE``, 1 s, for reads that started before)."""


def _mtime(path: str) -> int | None:
    """The modification time of ``path`` in nanoseconds, or None when it does not exist."""
    try:
        return _stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


class FeatureStore:
    """A feature repo: ``featurestore.toml`` (optional) and ``definitions/`` under ``root``.

    >>> store = FeatureStore(".")                       # doctest: +SKIP
    >>> store.apply()                                   # doctest: +SKIP
    >>> store.get_training_set(entity_df, ["driver_stats:conv_rate"]).to_polars()  # doctest: +SKIP

    README: "Quickstart" (SDK and command line), "In a notebook".
    """

    def __init__(
        self,
        root: str | Path = ".",
        *,
        config: RepoConfig | None = None,
        online_store: OnlineStore | None = None,
    ) -> None:
        """``online_store``: a store to use instead of opening the configured one (the server hands in one
        that measures its reads); it is closed with this object."""
        self.root = Path(root).resolve()
        self.config = config or load_config(self.root)
        from featurestore.storage import remember_storage

        # Code handed only the root (planners, the feature-log writer) uses this store's [storage].
        remember_storage(self.root, self.config.storage)
        self._engine: Engine | None = None
        self._registry: Registry | None = None
        self._registry_stamp: int | None = None
        from featurestore.registry.storage import registry_path

        self._registry_file = str(registry_path(self.root))
        self._state_file = str(registry_path(self.root).with_name("state.json"))
        self._backend: RegistryBackend | None = None
        # A database registry is polled (one query for both stamps) at most every `refresh`.
        self._polls = self.config.registry.scheme != "files"
        self._refresh = self.config.registry.refresh.total_seconds()
        self._next_poll = 0.0
        self._state_stamp: int | None = None
        self._served: Mapping[str, ServedView] | None = None
        self._served_for: tuple[int | None, int | None] | None = None
        self._online: OnlineStore | None = online_store
        self._requests: dict[tuple[Any, ...], OnlineRequest | OnDemandRequest] = {}
        self._gated = False  # set by check_serving(): each new registry is checked before it is used
        self._rejected_stamp: int | None = None
        self.serving_problem: FeatureStoreError | None = None
        """Why the newest registry is not served (its on-demand functions cannot be resolved), or None."""

    @property
    def project(self) -> str:
        """The project name (``featurestore.toml``; default: the repo folder's name)."""
        return self.config.project

    @property
    def engine(self) -> Engine:
        """The offline engine (``[offline]``: DuckDB by default), opened at first use."""
        if self._engine is None:
            from featurestore.engines import open_engine

            self._engine = open_engine(self.config.offline, self.root, self.config.storage)
        return self._engine

    @property
    def storage(self) -> Storage:
        """Where the push log, the feature log and the aggregate states live (``[storage] url``)."""
        from featurestore.storage import storage_for

        return storage_for(self.root, self.config.storage)

    # -- definitions and the registry ---------------------------------------------------------

    def load_definitions(self) -> Definitions:
        """The objects declared in ``definitions/*.py`` (errors name the file and line)."""
        from featurestore.registry import load_definitions

        return load_definitions(self.root)

    def plan(self) -> RegistryDiff:
        """What ``apply`` would change, without writing anything; ``base_version`` is the registry
        version it was computed against (pass it to ``apply(expect_version=...)``).

        >>> FeatureStore(".").plan()                        # doctest: +SKIP
        """
        from featurestore.apply import build_registry
        from featurestore.registry import diff_registries

        old, version, problem = self.backend.read()
        if problem is not None:
            old = self.backend.read_registry()  # raises: says what is wrong and that apply fixes it
        new = build_registry(self.load_definitions(), self.engine, self.root, self.project)
        return replace(self._advised(diff_registries(old, new), new), base_version=version)

    def _advised(self, diff: RegistryDiff, registry: Registry) -> RegistryDiff:
        """The diff with what the definitions allow but a user should know (late events a run misses,
        services whose views share a feature name)."""
        from featurestore.plan.window import lookback_warnings
        from featurestore.registry.advice import shared_feature_names

        found = [
            *lookback_warnings(registry, self.config.materialize.lookback),
            *shared_feature_names(registry),
        ]
        return replace(diff, warnings=(*found, *diff.warnings)) if found else diff

    def apply(self, *, expect_version: int | None = None) -> RegistryDiff:
        """Check the definitions against their sources and write the registry atomically.

        A view whose data changed gets a new, pending online version; the active one keeps serving until
        the new one is materialized (see ``status``). Versions of removed views are deleted online.
        The write is a compare-and-set on the registry version read first (no lock is held while the
        definitions load and the sources are probed): if another apply wrote in between, or the version
        is no longer ``expect_version`` (``plan().base_version``), ``RegistryConflictError``.
        The result's ``next_steps`` are the calls that come next (materialize, then read online).

        >>> store.apply().next_steps[0]                     # doctest: +SKIP
        'store.materialize(end=datetime.now(UTC))  # write the latest values online'
        """
        from featurestore.apply import build_registry
        from featurestore.registry import diff_registries
        from featurestore.registry.backend import conflict
        from featurestore.versions import sync_versions

        backend = self.backend
        # An unreadable registry is replaced (apply is the fix its error names), its bytes kept.
        old, version, _ = backend.read()
        if expect_version is not None and version != expect_version:
            who = next((v for v in backend.history_versions() if v.version == version), None)
            raise conflict(expect_version, version, who)
        new = build_registry(self.load_definitions(), self.engine, self.root, self.project)
        diff = self._advised(diff_registries(old, new), new)
        changed = not diff.empty or old is None or old.on_demand_code != new.on_demand_code
        # In the lock (a database: the transaction) of the write: a run starting now sees both the
        # new registry and its versions.
        try:
            result = backend.write(new if changed else None, version, lambda edit: sync_versions(new, edit))
        except RegistryConflictError:
            # Another apply wrote in between. When it wrote exactly this registry, nothing this plan
            # said is wrong: settle on its version. Otherwise the plan is stale.
            now, version, _ = backend.read()
            if expect_version is not None or now != new:
                raise
            result = backend.write(None, version, lambda edit: sync_versions(new, edit))
        from featurestore.registry.next_steps import next_steps

        diff = replace(
            diff,
            base_version=version,
            warnings=(*diff.warnings, *result.warnings),
            next_steps=next_steps(new),
        )
        self._next_poll = 0.0
        try:
            self.delete_retired()
        except OnlineStoreError as exc:  # applied all the same: the next apply or materialize retries
            diff = replace(
                diff, warnings=(*diff.warnings, f"old online versions were not deleted yet: {exc}")
            )
        return diff

    @property
    def backend(self) -> RegistryBackend:
        """Where the registry and the state live (``[registry] url``)."""
        if self._backend is None:
            from featurestore.registry.backends import open_backend

            self._backend = open_backend(self.config.registry, self.root, self.project)
        return self._backend

    @property
    def state(self) -> RegistryBackend:
        """The runtime state: online versions, watermarks, runs in progress, the run history."""
        return self.backend

    def runs(self, view: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Completed materialization runs (of one view, or all), newest first; ``history`` per view kept."""
        return self.backend.runs(view, limit)

    def stats(self, view: str, run: int | None = None) -> Profiles:
        """The feature statistics of a materialization run of ``view``: run number ``run`` (see
        ``runs()`` / ``featurestore status --runs``), or the newest run that has statistics.

        >>> store.stats("driver_stats")["conv_rate"].mean  # doctest: +SKIP
        0.62

        README: "Statistics".
        """
        from featurestore.stats import Profiles

        found = self.backend.run_profiles(view, run)
        if found is None:
            which = "any run" if run is None else f"run {run}"
            raise FeatureStoreError(
                f"no statistics of {which} of view {view!r}: materialize it first (statistics are kept for "
                f"the last {self.config.registry.history} runs of each view, unless [materialize] "
                "statistics = false)"
            )
        record, document = found
        profiles = Profiles.from_json(document, where=f"the statistics of run {record.run} of {view!r}")
        return replace(profiles, label=f"{view} run {record.run} (version {profiles.version})")

    def served_profile(
        self,
        service: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        view: str | None = None,
    ) -> Profiles:
        """The statistics of what ``service`` served between ``start`` and ``end`` (request times), from
        its feature log; with ``view``, that view's features under their own names."""
        from featurestore.feature_logging.served_profile import profile_served
        from featurestore.feature_logging.writer import service_logs

        logs = service_logs(self.registry, self.root, self.storage)
        if service not in logs:
            self.registry.service(service)  # an unknown service: UnknownServiceError naming the known ones
            raise FeatureStoreError(
                f"feature service {service!r} does not log what it serves; give it "
                "logging=FeatureLogging(sample_rate=...) and apply"
            )
        target = logs[service]
        return profile_served(
            target.storage.uri(target.prefix), service, storage=self.storage, start=start, end=end, view=view
        )

    def delete_retired(self) -> int:
        """Delete the online values of retired versions (replaced, or of removed views) that no run
        writes any more; return the number of values deleted. Nothing else is ever deleted."""
        from featurestore.versions import delete_retired, has_retired, retire_grace

        if not has_retired(self.state):  # nothing to do: don't even connect
            return 0
        grace = retire_grace(self._polls, self.config.registry.refresh)
        return delete_retired(self.state, self.online_store, grace)

    @property
    def registry(self) -> Registry:
        """The applied registry, re-read only when it changes: files are looked at (a stat of the
        registry and of the state) at most every ``FILES_RECHECK`` seconds, a database at most every
        ``[registry] refresh`` (one query). What this object changes itself is seen at once."""
        now = _monotonic()
        if self._registry is not None and now < self._next_poll:
            return self._registry
        if self._polls:
            stamp, self._state_stamp = self.backend.stamps()
            self._next_poll = now + self._refresh
        else:
            stamp, self._state_stamp = _mtime(self._registry_file), _mtime(self._state_file)
            self._next_poll = now + FILES_RECHECK
        if (
            self._registry is not None
            and stamp is not None
            and stamp in (self._registry_stamp, self._rejected_stamp)
        ):
            return self._registry
        registry = self.backend.read_registry()
        if registry is None:
            raise RegistryError(
                f"nothing is applied in {self.backend.where}: run `featurestore apply` (or store.apply()) "
                "first"
            )
        if self._gated and self._registry is not None and not self._servable(registry, stamp):
            return self._registry
        self._registry, self._registry_stamp = registry, stamp
        self._requests.clear()
        return registry

    def check_serving(self) -> Registry:
        """Resolve every on-demand function of the applied registry now (``registry/code.py``), so a
        serving process fails at startup, not per request; the registry. From then on each new registry
        is checked the same way before it is used: one that fails keeps the previous registry serving,
        with the error in ``serving_problem``.

        Raises ``RegistryError`` (nothing applied) or ``OnDemandCodeError`` (a missing module, a source
        that differs from the applied one, code ``[registry] on_demand_code`` does not allow).
        """
        from featurestore.registry.code import check_functions

        registry = self.registry
        check_functions(registry, self.root, self.config.registry.on_demand_code)
        self._gated = True
        return registry

    def _servable(self, registry: Registry, stamp: int | None) -> bool:
        from featurestore.registry.code import check_functions

        try:
            check_functions(registry, self.root, self.config.registry.on_demand_code)
        except FeatureStoreError as exc:
            self.serving_problem, self._rejected_stamp = exc, stamp
            return False
        self.serving_problem, self._rejected_stamp = None, None
        return True

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
        """Point-in-time-correct features for each entity row (README: "Point-in-time semantics").

        ``features``: ``["view:feature", ...]``, ``["view:*"]``, a FeatureService or its name.
        ``as_known_at=True`` also requires ``created <= t`` so back-filled values cannot leak.
        On-demand features read their request data from the entity rows' columns.

        >>> training = store.get_training_set("data/entity_rows.parquet", "model_v1")  # doctest: +SKIP
        """
        from featurestore import arguments
        from featurestore.retrieve.training import build_training_set

        features = arguments.features(features)
        request = (self.registry, self.engine, self.root, entity_df, features)
        options: dict[str, Any] = {
            "full_feature_names": full_feature_names,
            "timestamp_column": timestamp_column,
            "as_known_at": as_known_at,
        }
        # The builder of training sets with on-demand features (None without any), else the plain one.
        # (Not `or`: a training set of no rows is falsy, its __len__ being 0.) A registry without
        # on-demand views needs not even import it.
        result = None
        if self.registry.on_demand_views:
            from featurestore.retrieve.on_demand import build_on_demand_training_set

            code = self.config.registry.on_demand_code
            result = build_on_demand_training_set(*request, **options, code=code)
        if result is None:
            result = build_training_set(*request, **options)
        if as_known_at:
            from featurestore.errors import AsKnownAtIgnoredWarning
            from featurestore.registry.advice import as_known_at_ignored

            ignored = as_known_at_ignored(self.registry, features)
            if ignored is not None:
                warnings.warn(ignored, AsKnownAtIgnoredWarning, stacklevel=2)
        return result

    # -- online -------------------------------------------------------------------------------

    @property
    def online_store(self) -> OnlineStore:
        """The online store (``[online_store]``: SQLite under ``.featurestore/`` by default), opened once."""
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
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> MaterializeSummary:
        """Write the latest value per entity as of ``end`` (default: now) of rows from ``start`` on.

        ``overwrite=True`` rewrites each view as of ``end`` into a fresh version that replaces the served
        one when complete (values newer than ``end`` are dropped, the watermark may move back): for
        backfills and reproductions. Reads never see a half-rewritten view.

        >>> store.materialize(end=datetime.now(UTC)).runs[0].entities_written  # doctest: +SKIP
        2
        """
        return self._materialize(start, end, views, incremental=False, progress=progress, overwrite=overwrite)

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
        overwrite: bool = False,
    ) -> MaterializeSummary:
        from featurestore import arguments
        from featurestore.materialize import Materializer, select_views, wall_clock_us
        from featurestore.materialize.executors import refuse_embedded_store

        start, end = arguments.times("start", start), arguments.times("end", end)
        registry = self.registry
        chosen = select_views(registry, arguments.names("views", views, arguments.example_view(registry)))
        arguments.check_end_reach(chosen, end)
        self.state.snapshot()  # a state file it cannot read is refused before the online store is opened
        refuse_embedded_store(self.config.offline, self.config.online)  # before a Spark session starts
        materializer = Materializer(
            registry,
            self.engine,
            self.online_store,
            self.state,
            self.root,
            settings=self.config.materialize,
            clock=wall_clock_us,
            overwrite=overwrite,
            progress=progress,
        )
        try:
            return materializer.run(
                chosen, start=start, end=end or datetime.now(UTC), incremental=incremental
            )
        except SourceError as exc:
            from featurestore.apply import explain_run_error

            raise explain_run_error(chosen, self.engine, self.root, exc, "materializing") from None
        finally:
            self._next_poll = 0.0  # this process changed the state: the next read looks

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

        >>> store.get_online_features("model_v1", [{"driver_id": 1001}]).to_dict()  # doctest: +SKIP
        {'driver_id': [1001], 'conv_rate': [0.55], 'trips_today': [6]}
        """
        request = self.compile_online(features, full_feature_names)
        if type(entity_rows) is not list:  # lists of dicts, the common case, go straight through
            from featurestore.arguments import entity_rows as checked_rows

            entity_rows = checked_rows(entity_rows, request.join_keys)
        return request.read(self.online_store, entity_rows, request_data, now)

    def compile_online(
        self, features: Iterable[str] | FeatureService | str, full_feature_names: bool = False
    ) -> OnlineRequest | OnDemandRequest:
        """The compiled online request for a feature list: built once, then served from a cache that
        is dropped when the registry changes."""
        registry = self.registry
        served = self._serving(registry)
        named: Any = None
        kind = type(features)
        if kind is list or kind is tuple:  # the common cases first, without an import
            named = tuple(features)
        elif kind is str:
            named = features
        else:
            from featurestore.dsl import FeatureService

            if isinstance(features, FeatureService):
                named = features.name
            elif isinstance(features, str):
                named = features
            elif isinstance(features, list | tuple | set | frozenset):
                named = tuple(features)
        request = None
        if named is not None:
            try:
                request = self._requests.get((named, full_feature_names))
            except TypeError:  # an item that is not a name (unhashable): refused below
                request = None
        if request is None:
            from featurestore import arguments
            from featurestore.retrieve.on_demand import compile_online

            # Checked on a cache miss only: a cached feature list was checked when it was compiled.
            features = arguments.features(features)
            code = self.config.registry.on_demand_code
            request = compile_online(registry, features, full_feature_names, self.root, served, code)
            if named is not None:
                self._requests[(named, full_feature_names)] = request
        return request

    def served_views(self) -> Mapping[str, ServedView]:
        """Per view, the online version of the applied definition and the version serving meanwhile."""
        return self._serving(self.registry)

    def _serving(self, registry: Registry) -> Mapping[str, ServedView]:
        """Which version serves each view, re-read only when the registry or the state changes (as of
        the last look, see ``registry``)."""
        stamp = self._state_stamp  # taken with the registry's (see ``registry``)
        key = (self._registry_stamp, stamp)  # file stamps: an object id could be reused after a reload
        if self._served is not None and self._served_for == key:
            return self._served
        from featurestore.versions import serving

        self._served = serving(registry, self.state.snapshot())
        self._served_for = key
        self._requests.clear()
        return self._served

    def push(self, view: str, rows: Any, *, to: str = "online") -> PushResult:
        """Write fresh rows of ``view`` online (newer-wins), offline (its push log), or ``"both"``.

        ``rows``: a list of dicts, a dict of columns, or a DataFrame / Arrow table holding every join key,
        the source's event-timestamp column and every feature (the created-timestamp column is optional).
        They are checked against the view's schema first: on a mismatch nothing is written.
        """
        from featurestore.arguments import example_view, view_name
        from featurestore.push import push_rows

        registry = self.registry
        rv = registry.view(view_name(view, example_view(registry)))
        online = self.online_store if to in ("online", "both") else None
        served = self._serving(registry)[rv.name]
        # The served version first (its count is reported), then the version being materialized.
        targets = [served.active, served.current] if served.active is not None else [served.current]
        return push_rows(
            rv,
            rows,
            to=to,
            root=self.root,
            online=online,
            targets=targets,
            storage=self.storage,
            clock_skew=self.config.materialize.clock_skew,
        )

    def status(self, views: list[str] | None = None, *, online: bool = True) -> list[VersionStatus]:
        """Every online version per view: status, watermark, freshness, keys held, problems and their fix.

        ``online=False`` reads only the state (no connection to the online store).
        """
        from featurestore.arguments import names
        from featurestore.status import view_statuses

        views = names("views", views)
        recorded = {r.view for r in self.state.versions()}
        for name in views or []:
            if name not in recorded:
                self.registry.view(name)  # an unknown name is an error that suggests close ones
        store = self.online_store if online else None
        return view_statuses(self.state, store, clock_skew=self.config.materialize.clock_skew, views=views)

    def promote(self, view: str, *, force: bool = False) -> tuple[ViewVersion, ViewVersion | None]:
        """Serve the pending version of ``view`` now; returns (promoted, replaced). Without ``force`` it
        must have been materialized up to the active version's watermark (``materialize`` promotes it by
        itself then). The replaced version's values are deleted."""
        from featurestore.versions import promote

        promoted = promote(self.state, view, force=force)
        self._next_poll = 0.0
        self.delete_retired()
        return promoted

    def teardown(
        self, views: list[str] | None = None, *, online: bool = True, state: bool = True
    ) -> tuple[int, int]:
        """Remove this repo's online values and/or its state (versions, watermarks, partial states) for
        ``views`` (default: all); returns (values deleted, versions affected). Nothing of another repo
        sharing the online store is touched."""
        from featurestore.arguments import names
        from featurestore.registry.partials import PartialStore
        from featurestore.versions import teardown

        views = names("views", views)
        result = teardown(self.state, self.online_store if online else None, views, drop_state=state)
        self._next_poll = 0.0  # this process changed the state: the next read looks
        if state:
            partials = PartialStore(self.storage)
            for name in views or partials.views():
                partials.remove(name)
        return result

    def verify(self, sample: int | None = 1000, views: list[str] | None = None) -> list[ViewCheck]:
        """Online vs offline at each view's watermark, per online view: how many sampled entities
        match, mismatch, are missing, expired or newer online (failures: mismatch + missing, 0 expected)."""
        from featurestore.arguments import names
        from featurestore.sql import renderer_for
        from featurestore.verify import Collaborators, verify

        views = names("views", views)
        registry, engine = self.registry, self.engine
        collaborators = Collaborators(
            registry=registry,
            engine=engine,
            renderer=renderer_for(engine.capabilities),
            online=self.online_store,
            served=self._serving(registry),
            state=self.state.snapshot(),
            root=self.root,
            clock_skew=self.config.materialize.clock_skew,
        )
        return verify(collaborators, sample, views)

    def validate(
        self, views: Iterable[str] | None = None, *, end: datetime | None = None, all_rows: bool = False
    ) -> ValidationReport:
        """The views' checks (every view with checks by default) over the rows a full materialization up
        to ``end`` (default: now) would write; ``all_rows=True``: over every source row up to ``end``.
        Nothing is written."""
        from featurestore import arguments
        from featurestore.materialize import Reads, ViewRequest, strategy_for, to_naive_utc
        from featurestore.validation.views import validate_views

        registry, reads = self.registry, Reads(self.engine, self.root, self.config.materialize.lookback)
        chosen = arguments.names("views", views, arguments.example_view(registry))
        rvs = list(registry.views.values()) if chosen is None else [registry.view(n) for n in chosen]
        at = to_naive_utc(arguments.times("end", end) or datetime.now(UTC))
        return validate_views(
            rvs,
            self.engine,
            self.root,
            at,
            all_rows=all_rows,
            plan_run=lambda rv, t: strategy_for(rv, reads).plan(ViewRequest(rv, None, t, False, None)),
        )

    def verify_log(self, path: str | Path) -> list[FeatureSkew]:
        """Served values logged by feature logging vs the same rows recomputed offline, per feature."""
        from featurestore.feature_logging import verify_log

        return verify_log(
            self.registry,
            self.engine,
            self.root,
            path,
            storage=self.storage,
            code=self.config.registry.on_demand_code,
        )

    def close(self) -> None:
        """Close the engine and the online store (``with FeatureStore(".") as store:`` does it)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._online is not None:
            self._online.close()
            self._online = None
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The ASGI application: routing, limits, auth, JSON errors and the thin online-features hot path.

A plain ASGI callable, no framework: a request to ``POST /online-features`` is one body read, one
``orjson.loads``, one online read (its plan compiled once per feature list and cached) and one
``orjson.dumps``. The event loop never waits on the online store, so a slow or paused Redis never holds
``/health``, ``/ready``, ``/metrics`` or requests that need no store:

* a store with ``capabilities.async_reads`` (standalone Redis) is read on the loop itself, the reply
  awaited (``online/redis_async.py``): the fast path costs no thread hop (~35 us, measured);
* other reads (SQLite, Redis Cluster, feature lists with request-time features) run on read threads
  (``offload.py``).

A read not answered within ``request_timeout`` is answered 504 (see :func:`error_status`). Pushes, which
may be large, run in threads of their own.

Errors: every client mistake is a 4xx with ``{"error": {"type", "message", "status"}}`` (malformed JSON,
unknown features, wrong key types, limits); store outages are 503, store timeouts 504; anything
unexpected is logged and answered 500 without internals.

``/health`` is liveness (the process answers; it reads nothing), ``/ready`` readiness (the registry is
loaded, the online store answers within ``READY_TIMEOUT``, and the newest registry is served).

On-demand functions are resolved at startup (``FeatureStore.check_serving``): a function that cannot be
had fails the startup. A registry applied later whose functions cannot be resolved is not used: the
previous one keeps serving, the error is logged, ``/ready`` answers 503 with it and
``featurestore_registry_rejected_total`` counts it, until a registry that resolves is applied.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from featurestore.errors import (
    DefinitionError,
    EntityRowsError,
    FeatureNameCollisionError,
    FeatureStoreError,
    FutureTimeError,
    OnlineStoreError,
    OnlineStoreTimeoutError,
    RegistryError,
    SchemaMismatchError,
    UnknownObjectError,
    ValidationError,
)
from featurestore.retrieve.online import OnlineRequest, OnlineResponse, entity_columns
from featurestore.server.collectors import register_collectors
from featurestore.server.metrics import Metrics
from featurestore.server.offload import Offload, deadline_message
from featurestore.server.requests import (
    ClientGone,
    OnlineQuery,
    RequestError,
    authorize,
    parse_online,
    parse_push,
    read_body,
)
from featurestore.server.settings import ServerSettings

if TYPE_CHECKING:
    from featurestore.feature_logging import FeatureLogger
    from featurestore.online.base import AsyncReads
    from featurestore.registry import Registry
    from featurestore.retrieve.on_demand import OnDemandResponse
    from featurestore.store import FeatureStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("featurestore.server")
access_log = logging.getLogger("featurestore.access")

_JSON = [(b"content-type", b"application/json")]
READ_THREADS = 8
"""Online reads in flight per worker process. Each holds one online-store connection; while the store
stalls, requests beyond this wait for a thread and are answered 504 at their deadline."""
READING = "reading online features"
READY_TIMEOUT = 1.0
"""How long ``/ready`` waits for the registry and the online store before answering 503."""


def _encode_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(obj: Any) -> bytes:
    """JSON bytes (orjson): datetimes as RFC 3339, bytes features as base64, NaN as null."""
    out: bytes = orjson.dumps(obj, default=_encode_default)
    return out


def error_status(exc: FeatureStoreError) -> int:
    """The HTTP status of a core error: what the client asked for is unknown or unusable (4xx), or the
    server side failed (5xx)."""
    if isinstance(exc, UnknownObjectError):
        return 404
    if isinstance(
        exc,
        EntityRowsError
        | FeatureNameCollisionError
        | SchemaMismatchError
        | DefinitionError
        | FutureTimeError
        | ValidationError,
    ):
        return 422
    if isinstance(exc, OnlineStoreTimeoutError):
        # 504, not 503: the store (this server's upstream) did not answer in time, which is what a
        # gateway timeout says; 503 is kept for a store that refused or failed, and for /ready.
        return 504
    if isinstance(exc, OnlineStoreError | RegistryError):
        return 503
    return 500


class FeatureServer:
    """The ASGI app. ``store`` is used from read threads, side threads (readiness probes, scrapes) and
    push threads; the event loop itself never touches the online store or a file."""

    def __init__(
        self,
        store: FeatureStore,
        settings: ServerSettings,
        logger: FeatureLogger | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.logger = logger
        self.metrics = metrics or Metrics()
        token = os.environ.get(settings.token_env, "")
        self._token = token.encode() if token else None
        self._routes: dict[str, dict[str, Callable[[Scope, Receive], Awaitable[tuple[int, bytes]]]]] = {
            "/online-features": {"POST": self._online_features},
            "/get-online-features": {"POST": self._online_features},  # alias, for Feast-style clients
            "/push": {"POST": self._push},
            "/health": {"GET": self._health},
            "/ready": {"GET": self._ready},
            "/metrics": {"GET": self._metrics},
            "/openapi.json": {"GET": self._openapi},
        }
        self._open = {"/health", "/ready"}
        self._openapi_doc: bytes | None = None
        self._reads = Offload(READ_THREADS, "featurestore-read")
        # Readiness probes and scrapes never wait behind reads stuck on a stalled store.
        self._side = Offload(2, "featurestore-side")
        self._probe: asyncio.Future[dict[str, Any]] | None = None
        self._registry: Registry | None = None
        """The registry last seen; a different object means the file changed and was read again."""
        self._reloads = 0
        self._rejected = 0
        self._problem: FeatureStoreError | None = None
        """The rejection last logged (``store.serving_problem``), so each one is logged and counted once."""
        self._reload_lock = threading.Lock()
        self._access = settings.access_log
        register_collectors(self.metrics, store, logger, lambda: self._reloads, lambda: self._rejected)

    def registry(self) -> Registry:
        """The applied registry (re-read when its file changed: counted and logged once per change; a
        new one whose on-demand functions cannot be resolved is logged, counted and not served)."""
        registry = self.store.registry
        problem = self.store.serving_problem
        if problem is not self._problem:
            with self._reload_lock:
                if problem is not self._problem:
                    self._problem = problem
                    if problem is not None:
                        self._rejected += 1
                        log.error(
                            "the new registry is not served (the previous one still is): %s: %s",
                            type(problem).__name__,
                            problem,
                        )
        if registry is not self._registry:
            with self._reload_lock:
                if registry is not self._registry:
                    if self._registry is not None:
                        self._reloads += 1
                        log.info(
                            "registry reloaded: project %s, %d views, %d feature services",
                            registry.project,
                            len(registry.views),
                            len(registry.services),
                        )
                    self._registry = registry
        return registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan: warm up on start, flush the feature log and close the store on shutdown -----------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    # Fail at startup, not on the first request: the registry and every on-demand function.
                    await asyncio.to_thread(self.store.check_serving)
                    self.registry()
                except FeatureStoreError as exc:
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await asyncio.to_thread(self.warm_up)
                # Everything loaded so far (modules, registry, plans: a large heap, with pyarrow and
                # pydantic) is moved out of the garbage collector's sight: otherwise full collections,
                # triggered by the garbage of ordinary requests, walk it all and cost more CPU than the
                # requests themselves (measured: ~600 -> ~390 us of server CPU per request).
                import gc

                gc.collect()
                gc.freeze()
                if self.logger is not None:
                    self.logger.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._reads.close()
                self._side.close()
                with contextlib.suppress(FeatureStoreError):  # a store that never opened has nothing open
                    online = self.store.online_store
                    if online.capabilities.async_reads:
                        reader: AsyncReads = online  # type: ignore[assignment]
                        await reader.aclose()  # on this loop, which opened its connections
                await asyncio.to_thread(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def warm_up(self) -> None:
        """Import and compile what the first requests would (the online store client, each feature
        service's read plan and request-time functions), so no request pays for it."""
        store = self.store
        try:
            store.online_store  # noqa: B018
            for name in store.registry.services:
                store.compile_online(name)
        except FeatureStoreError as exc:  # a broken service is reported when it is requested
            log.warning("warm-up: %s: %s", type(exc).__name__, exc)

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()
        self.store.close()

    # -- HTTP ----------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        methods = self._routes.get(path)
        route = path if methods is not None else "other"
        headers: list[tuple[bytes, bytes]] = _JSON
        try:
            if methods is None:
                raise RequestError(404, "not_found", f"no route {path}; see GET /openapi.json")
            handler = methods.get(scope["method"])
            if handler is None:
                allowed = ", ".join(methods)
                headers = [*_JSON, (b"allow", allowed.encode())]
                raise RequestError(405, "method_not_allowed", f"{path} accepts {allowed}")
            if self._token is not None and path not in self._open:
                authorize(scope["headers"], self._token)
            status, body = await handler(scope, receive)
            if path == "/metrics":
                headers = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
        except RequestError as exc:
            status, body = exc.status, self._error(route, exc.kind, exc.message, exc.status)
            if exc.status == 401:
                headers = [*headers, (b"www-authenticate", b'Bearer realm="featurestore"')]
        except FeatureStoreError as exc:
            status = error_status(exc)
            body = self._error(route, type(exc).__name__, exc.worded_for("http"), status)
        except ClientGone:
            return
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], path)
            status = 500
            body = self._error(route, "internal_error", "internal server error (see the server log)", 500)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - started
        self.metrics.observe(route, status, elapsed)
        if self._access:
            self._log_access(scope, status, elapsed)

    def _log_access(self, scope: Scope, status: int, elapsed: float) -> None:
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else "-"
        method, path, ms = scope["method"], scope["path"], round(elapsed * 1000, 3)
        access_log.info(
            '%s "%s %s" %d %.3fms',
            address,
            method,
            path,
            status,
            ms,
            extra={"client": address, "method": method, "path": path, "status": status, "duration_ms": ms},
        )

    def _error(self, route: str, kind: str, message: str, status: int) -> bytes:
        self.metrics.error(route, kind)
        return dumps({"error": {"type": kind, "message": message, "status": status}})

    # -- endpoints -----------------------------------------------------------------------------------

    async def _online_features(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        query = parse_online(
            await read_body(scope, receive, self.settings.max_body_bytes),
            max_entities=self.settings.max_entities,
        )
        requested_at = time.time()
        timeout = self.settings.request_timeout
        online = self.store.online_store
        if online.capabilities.async_reads:
            self.registry()
            request = self.store.compile_online(query.features, query.full_feature_names)
            if type(request) is OnlineRequest:
                # The read is awaited here, on the loop: no thread hop on the fast path (see the module
                # docstring). These are the steps of FeatureStore.get_online_features for such a request.
                keys = entity_columns(query.entities, request.join_keys)
                reader: AsyncReads = online  # type: ignore[assignment]  # the capability says it is one
                try:
                    async with asyncio.timeout(timeout):
                        results = await reader.read_async(request.plan, keys)
                except TimeoutError:
                    raise OnlineStoreTimeoutError(deadline_message(timeout, READING)) from None
                return 200, self._answer(query, OnlineResponse(request, keys, results), requested_at)
        body = await self._reads.run(timeout, READING, self._read_and_answer, query, requested_at)
        return 200, body

    def _read_and_answer(self, query: OnlineQuery, requested_at: float) -> bytes:
        """On a read thread: the read, the response and its JSON."""
        self.registry()
        response = self.store.get_online_features(
            query.features,
            query.entities,
            full_feature_names=query.full_feature_names,
            request_data=query.request_data,
        )
        return self._answer(query, response, requested_at)

    def _answer(
        self, query: OnlineQuery, response: OnlineResponse | OnDemandResponse, requested_at: float
    ) -> bytes:
        statuses = response.statuses()
        out: dict[str, Any] = {
            "features": list(statuses),
            "values": response.to_dict(),
            "statuses": statuses,
        }
        if query.event_timestamps:
            out["event_timestamps"] = response.event_timestamps()
        if self.logger is not None and query.service is not None:
            self.logger.log(query.service, query.entities, query.request_data, out, requested_at)
        return dumps(out)

    async def _push(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        query = parse_push(
            await read_body(scope, receive, self.settings.max_body_bytes),
            max_rows=self.settings.max_push_rows,
        )
        try:
            result = await asyncio.to_thread(self.store.push, query.view, query.rows, to=query.to)
        except ValidationError as exc:  # the rows broke a check: the report says which and where
            self.metrics.error("/push", "ValidationError")
            error = {"type": "ValidationError", "message": str(exc), "status": 422}
            return 422, dumps({"error": error, "report": exc.report.as_dict()})
        self.metrics.count("featurestore_pushed_rows_total", query.count, "Rows accepted by POST /push")
        return 200, dumps({"view": query.view, "to": query.to, "rows": query.count, **result.as_dict()})

    async def _health(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        # Liveness: answered from memory, whatever the registry file or the online store are doing.
        registry = self._registry
        if registry is None:
            return 200, dumps({"status": "ok"})
        return 200, dumps({"status": "ok", "project": registry.project, "views": len(registry.views)})

    async def _ready(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        # One probe at a time: concurrent /ready requests share it, so a stalled store is not probed by
        # every load balancer check at once.
        probe = self._probe
        if probe is None:
            probe = self._probe = asyncio.ensure_future(
                self._side.run(READY_TIMEOUT, "checking readiness", self._check_ready)
            )
            probe.add_done_callback(self._probe_done)
        try:
            return 200, dumps(await asyncio.shield(probe))
        except FeatureStoreError as exc:
            return 503, self._error("/ready", type(exc).__name__, str(exc), 503)

    def _probe_done(self, probe: asyncio.Future[dict[str, Any]]) -> None:
        self._probe = None
        if not probe.cancelled():
            probe.exception()  # retrieved: an unready store is an answer, not an unhandled error

    def _check_ready(self) -> dict[str, Any]:
        """On a side thread: the registry reads, and the online store answers one read."""
        registry = self.registry()
        if self._problem is not None:
            raise type(self._problem)(
                f"the newest registry is not served (the previous one still is): {self._problem}"
            )
        store = self.store.online_store
        served = self.store.served_views()
        for view in served.values():  # one key read is enough to know the store answers
            store.read_marker(view.current.namespace)
            break
        return {
            "status": "ready",
            "project": registry.project,
            "views": len(registry.views),
            "online_store": store.capabilities.name,
        }

    async def _metrics(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        # Rendered on a side thread: the freshness gauge reads the state file.
        text = await self._side.run(5.0, "rendering metrics", self.metrics.render)
        return 200, text.encode()

    async def _openapi(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        if self._openapi_doc is None:
            from featurestore.server.openapi import openapi_document

            self._openapi_doc = dumps(openapi_document(self.settings))
        return 200, self._openapi_doc

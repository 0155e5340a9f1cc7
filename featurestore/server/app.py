"""The ASGI application: routing, limits, auth, JSON errors and the thin online-features hot path.

A plain ASGI callable, no framework: a request to ``POST /online-features`` is one body read, one
``orjson.loads``, one ``FeatureStore.get_online_features`` call (its read plan is compiled once per feature
list and cached) and one ``orjson.dumps``. The online read runs on the event loop itself: it is one round
trip of well under a millisecond, cheaper than a hop to a thread; concurrency comes from worker processes
(``--workers``). Pushes, which may be large, run in a thread.

Errors: every client mistake is a 4xx with ``{"error": {"type", "message", "status"}}`` (malformed JSON,
unknown features, wrong key types, limits); store outages are 503; anything unexpected is logged and
answered 500 without internals.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from featurestore.errors import (
    DefinitionError,
    EntityRowsError,
    FeatureNameCollisionError,
    FeatureStoreError,
    FutureTimeError,
    OnlineStoreError,
    RegistryError,
    SchemaMismatchError,
    UnknownObjectError,
)
from featurestore.server.metrics import Metrics
from featurestore.server.requests import RequestError, parse_online, parse_push

if TYPE_CHECKING:
    from featurestore.feature_logging import FeatureLogger
    from featurestore.store import FeatureStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("featurestore.server")

TOKEN_ENV = "FEATURESTORE_SERVER_TOKEN"
_JSON = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class ServerSettings:
    """What ``featurestore serve`` configures. Limits protect the server from oversized requests."""

    host: str = "127.0.0.1"
    port: int = 6566
    workers: int = 1
    max_body_bytes: int = 1 << 20
    max_entities: int = 1000
    max_push_rows: int = 10_000
    token_env: str = TOKEN_ENV
    """The environment variable holding the bearer token; unset or empty: no auth."""
    log_queue: int = 10_000
    """Feature logging: served requests waiting for the writer; beyond it they are dropped and counted."""


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
        EntityRowsError | FeatureNameCollisionError | SchemaMismatchError | DefinitionError | FutureTimeError,
    ):
        return 422
    if isinstance(exc, OnlineStoreError | RegistryError):
        return 503
    return 500


class FeatureServer:
    """The ASGI app. ``store`` is used from the event loop (reads) and a thread (pushes)."""

    def __init__(
        self, store: FeatureStore, settings: ServerSettings, logger: FeatureLogger | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.logger = logger
        self.metrics = Metrics()
        token = os.environ.get(settings.token_env, "")
        self._token = f"Bearer {token}".encode() if token else None
        self._routes: dict[str, dict[str, Callable[[Scope, Receive], Awaitable[tuple[int, bytes]]]]] = {
            "/online-features": {"POST": self._online_features},
            "/get-online-features": {"POST": self._online_features},  # alias, for Feast-style clients
            "/push": {"POST": self._push},
            "/health": {"GET": self._health},
            "/metrics": {"GET": self._metrics},
            "/openapi.json": {"GET": self._openapi},
        }
        self._open = {"/health"}
        self._openapi_doc: bytes | None = None
        if logger is not None:
            self.metrics.gauge(
                "featurestore_feature_log_dropped",
                lambda: logger.dropped,
                "Logged requests dropped (queue full)",
            )
            self.metrics.gauge(
                "featurestore_feature_log_written",
                lambda: logger.written,
                "Feature vectors written to the log",
            )

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
                    self.store.registry  # noqa: B018  (fail at startup, not on the first request)
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
                self._authorize(scope)
            status, body = await handler(scope, receive)
            if path == "/metrics":
                headers = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
        except RequestError as exc:
            status, body = exc.status, self._error(route, exc.kind, exc.message, exc.status)
            if exc.status == 401:
                headers = [*headers, (b"www-authenticate", b'Bearer realm="featurestore"')]
        except FeatureStoreError as exc:
            status = error_status(exc)
            body = self._error(route, type(exc).__name__, str(exc), status)
        except _ClientGone:
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
        self.metrics.observe(route, status, time.perf_counter() - started)

    def _error(self, route: str, kind: str, message: str, status: int) -> bytes:
        self.metrics.error(route, kind)
        return dumps({"error": {"type": kind, "message": message, "status": status}})

    def _authorize(self, scope: Scope) -> None:
        assert self._token is not None
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if not given:
            raise RequestError(401, "unauthorized", "missing 'Authorization: Bearer <token>' header")
        if not hmac.compare_digest(given, self._token):
            raise RequestError(401, "unauthorized", "the bearer token is not valid")

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise RequestError(400, "bad_request", "Content-Length is not a number") from None
                if declared > limit:
                    raise RequestError(
                        413, "body_too_large", f"the body has {declared} bytes; the limit is {limit}"
                    )
                break
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            if len(body) > limit:
                raise RequestError(413, "body_too_large", f"the body exceeds the limit of {limit} bytes")
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body"):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, "body_too_large", f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- endpoints -----------------------------------------------------------------------------------

    async def _online_features(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        query = parse_online(await self._body(scope, receive), max_entities=self.settings.max_entities)
        requested_at = time.time()
        response = self.store.get_online_features(
            query.features,
            query.entities,
            full_feature_names=query.full_feature_names,
            request_data=query.request_data,
        )
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
        return 200, dumps(out)

    async def _push(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        query = parse_push(await self._body(scope, receive), max_rows=self.settings.max_push_rows)
        result = await asyncio.to_thread(self.store.push, query.view, query.rows, to=query.to)
        self.metrics.count("featurestore_pushed_rows_total", query.count, "Rows accepted by POST /push")
        return 200, dumps({"view": query.view, "to": query.to, "rows": query.count, **result.as_dict()})

    async def _health(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        registry = self.store.registry
        return 200, dumps({"status": "ok", "project": registry.project, "views": len(registry.views)})

    async def _metrics(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        return 200, self.metrics.render().encode()

    async def _openapi(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        if self._openapi_doc is None:
            from featurestore.server.openapi import openapi_document

            self._openapi_doc = dumps(openapi_document(self.settings))
        return 200, self._openapi_doc


class _ClientGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""

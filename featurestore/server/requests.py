"""Request bodies of the HTTP API: parsed with orjson and checked before the store sees them.

Every client mistake becomes a :class:`RequestError` with an HTTP status and a message that says what was
wrong and how to fix it; the store's own checks (unknown features, wrong key types) raise
``FeatureStoreError`` subclasses, which the app maps to statuses the same way.

    >>> q = parse_online(b'{"features": ["v:a"], "entities": {"id": [1, 2]}}', max_entities=10)
    >>> q.features, q.entities, q.count
    (('v:a',), {'id': [1, 2]}, 2)
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

ONLINE_FIELDS = (
    "features",
    "feature_service",
    "entities",
    "request_data",
    "full_feature_names",
    "event_timestamps",
)
PUSH_FIELDS = ("view", "rows", "to")
PUSH_TARGETS = ("online", "offline", "both")


class ClientGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


class RequestError(Exception):
    """A client mistake: answered with ``status`` and a JSON error body, never a 500."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class OnlineQuery:
    """A checked ``POST /online-features`` body."""

    features: tuple[str, ...] | str
    """``view:feature`` references, or a feature service name."""
    service: str | None
    entities: dict[str, list[Any]]
    request_data: dict[str, list[Any]] | None
    count: int
    full_feature_names: bool
    event_timestamps: bool


@dataclass(frozen=True)
class PushQuery:
    """A checked ``POST /push`` body."""

    view: str
    rows: dict[str, list[Any]] | list[dict[str, Any]]
    to: str
    count: int


def load_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says why not."""
    if not body.strip():
        raise RequestError(400, "empty_body", "the request body is empty; send a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "malformed_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(400, "bad_request", f"the request body must be a JSON object, not {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for t, name in names.items():
        if type(value) is t:
            return name
    return "a number"


def _unknown_fields(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = [k for k in data if k not in allowed]
    if extra:
        import difflib

        hints = []
        for k in extra:
            close = difflib.get_close_matches(k, allowed, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise RequestError(
            400, "bad_request", f"unknown field(s) {', '.join(hints)}; allowed: {', '.join(allowed)}"
        )


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if type(value) is not bool:
        raise RequestError(400, "bad_request", f"'{name}' must be true or false, not {_kind(value)}")
    return value


def columns(data: Any, field: str, example: str) -> tuple[dict[str, list[Any]], int]:
    """A JSON object of equally long arrays (``{"driver_id": [1001, 1002]}``) and its length."""
    if not isinstance(data, dict):
        raise RequestError(
            400, "bad_request", f"'{field}' must be an object of columns like {example}, not {_kind(data)}"
        )
    lengths = set()
    for name, values in data.items():
        if not isinstance(values, list):
            raise RequestError(
                400,
                "bad_request",
                f"'{field}.{name}' must be an array of values (one per entity), not {_kind(values)}; "
                f"for example {example}",
            )
        lengths.add(len(values))
    if len(lengths) > 1:
        shown = ", ".join(f"{k}: {len(v)}" for k, v in data.items())
        raise RequestError(400, "bad_request", f"the columns of '{field}' differ in length ({shown})")
    return data, (lengths.pop() if lengths else 0)


def parse_online(body: bytes, *, max_entities: int) -> OnlineQuery:
    """Check a ``POST /online-features`` body (see the OpenAPI document for its shape)."""
    data = load_json(body)
    _unknown_fields(data, ONLINE_FIELDS)
    features = data.get("features")
    service = data.get("feature_service")
    if (features is None) == (service is None):
        raise RequestError(
            400,
            "bad_request",
            "give either 'features' (a list like [\"driver_hourly_stats:conv_rate\"]) or 'feature_service' "
            "(a name), not both and not neither",
        )
    wanted: tuple[str, ...] | str
    if service is not None:
        if not isinstance(service, str) or not service:
            raise RequestError(400, "bad_request", "'feature_service' must be a non-empty string")
        wanted = service
    else:
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            raise RequestError(
                400,
                "bad_request",
                "'features' must be a non-empty array of strings like \"driver_hourly_stats:conv_rate\"",
            )
        wanted = tuple(features)
    if "entities" not in data:
        raise RequestError(
            400, "bad_request", "'entities' is missing: give join-key columns like {\"driver_id\": [1001]}"
        )
    entities, n = columns(data["entities"], "entities", '{"driver_id": [1001, 1002]}')
    if not entities:
        raise RequestError(400, "bad_request", "'entities' is empty: give at least one join-key column")
    if n > max_entities:
        raise RequestError(
            413,
            "too_many_entities",
            f"{n} entities in one request; the limit is {max_entities} (split the request, or start the "
            "server with a larger --max-entities)",
        )
    request_data = None
    if data.get("request_data") is not None:
        request_data, m = columns(data["request_data"], "request_data", '{"amount": [12.5, 80.0]}')
        if request_data and m != n:
            raise RequestError(
                400, "bad_request", f"'request_data' columns have {m} values but there are {n} entities"
            )
    return OnlineQuery(
        features=wanted,
        service=service,
        entities=entities,
        request_data=request_data or None,
        count=n,
        full_feature_names=_flag(data, "full_feature_names"),
        event_timestamps=_flag(data, "event_timestamps"),
    )


def parse_push(body: bytes, *, max_rows: int) -> PushQuery:
    """Check a ``POST /push`` body: ``{"view": ..., "rows": {...columns} or [{...}, ...], "to": ...}``."""
    data = load_json(body)
    _unknown_fields(data, PUSH_FIELDS)
    view = data.get("view")
    if not isinstance(view, str) or not view:
        raise RequestError(400, "bad_request", "'view' must be the name of a feature view")
    to = data.get("to", "online")
    if to not in PUSH_TARGETS:
        raise RequestError(400, "bad_request", f"'to' must be one of {', '.join(PUSH_TARGETS)}, not {to!r}")
    rows = data.get("rows")
    example = '{"driver_id": [1001], "event_timestamp": ["2026-11-01T12:00:00Z"], "conv_rate": [0.5]}'
    if isinstance(rows, list):
        if not all(isinstance(r, dict) for r in rows):
            raise RequestError(400, "bad_request", "'rows' as an array must hold objects, one per row")
        count = len(rows)
        out: dict[str, list[Any]] | list[dict[str, Any]] = rows
    else:
        out, count = columns(rows, "rows", example)
    if count == 0:
        raise RequestError(400, "bad_request", f"'rows' holds no rows; for example {example}")
    if count > max_rows:
        raise RequestError(413, "too_many_rows", f"{count} rows in one push; the limit is {max_rows}")
    return PushQuery(view=view, rows=out, to=to, count=count)


def authorize(headers: Iterable[tuple[bytes, bytes]], token: bytes) -> None:
    """Check an ``Authorization: Bearer <token>`` header (the scheme in any case, as RFC 7235 says)."""
    given = b""
    for name, value in headers:
        if name == b"authorization":
            given = value
            break
    if not given:
        raise RequestError(401, "unauthorized", "missing 'Authorization: Bearer <token>' header")
    scheme, _, credentials = given.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        raise RequestError(401, "unauthorized", "the Authorization header must use the Bearer scheme")
    if not hmac.compare_digest(credentials.strip(), token):
        raise RequestError(401, "unauthorized", "the bearer token is not valid")


async def read_body(
    scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[MutableMapping[str, Any]]], limit: int
) -> bytes:
    """The whole request body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
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
        raise ClientGone
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
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "body_too_large", f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

"""What ``featurestore serve`` configures: address, workers, limits, timeouts and logs."""

from __future__ import annotations

from dataclasses import dataclass

TOKEN_ENV = "FEATURESTORE_SERVER_TOKEN"


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
    request_timeout: float = 1.0
    """Seconds an online-features request may take, from its complete body to its answer (else 504)."""
    idle_timeout: float = 5.0
    """Seconds a connection may stay open with no request in progress."""
    header_timeout: float = 5.0
    """Seconds a request head may take to arrive, from its first byte (else 408 and close)."""
    body_timeout: float = 10.0
    """Seconds a request body may take to arrive, after the head (else 408 and close)."""
    log_level: str = "info"
    log_format: str = "text"
    """``text`` or ``json`` (one JSON object per line)."""
    access_log: bool = False
    """A log line per request (off by default: it costs more than a request)."""

"""Connection timeouts that uvicorn lacks: slow or idle clients cannot hold a connection forever.

uvicorn (as of 0.55) closes a keep-alive connection that stays idle after a response
(``timeout_keep_alive``), but has no limit on a connection that never sends a request, on a request
head that trickles in, or on a body that never ends: each such client holds a socket and, for a body, a
request task, for as long as it likes (the slowloris attack). :class:`GuardedHttpToolsProtocol` is
uvicorn's httptools protocol with three timers per connection:

* **idle**: a connection with no request in progress is closed after ``idle`` seconds, from the moment
  it opens as well as after each response (uvicorn's keep-alive timer, also armed on connect);
* **headers**: a request head must be complete within ``headers`` seconds of its first byte, however
  the bytes are spread out; otherwise the client gets a JSON 408 and the connection is closed;
* **body**: the body must be complete within ``body`` seconds of the head; otherwise a JSON 408 (unless
  a response has started) and the connection is closed.

The timers are set once per worker process by :func:`configure` (from ``ServerSettings``), before uvicorn
accepts connections. Connections closed by each timer are counted in :data:`TIMED_OUT`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

IDLE_SECONDS = 5.0
HEADER_SECONDS = 5.0
BODY_SECONDS = 10.0
TIMED_OUT = {"idle": 0, "headers": 0, "body": 0}
"""Connections closed by each timer in this process (read by the server's metrics)."""


def configure(idle: float, headers: float, body: float) -> None:
    """Set the timeouts of every connection accepted from now on in this process."""
    global IDLE_SECONDS, HEADER_SECONDS, BODY_SECONDS
    IDLE_SECONDS, HEADER_SECONDS, BODY_SECONDS = idle, headers, body


def _timeout_response(message: str) -> bytes:
    body = b'{"error": {"type": "request_timeout", "message": "%s", "status": 408}}' % message.encode()
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )
    return head + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with idle, header and body timeouts (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = IDLE_SECONDS  # type: ignore[assignment]  # uvicorn declares an int
        self._request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms its keep-alive timer only after a response; a connection that never sends a byte
        # would otherwise stay open for good. Any data received cancels it (uvicorn's data_received).
        self.timeout_keep_alive_task = self.loop.call_later(IDLE_SECONDS, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_timer()
        super().connection_lost(exc)

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            TIMED_OUT["idle"] += 1
        super().timeout_keep_alive_handler()

    # -- httptools parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm("headers", HEADER_SECONDS)

    def on_headers_complete(self) -> None:
        self._cancel_request_timer()
        super().on_headers_complete()
        # Cancelled by on_message_complete, which for a request without a body follows at once.
        self._arm("body", BODY_SECONDS)

    def on_message_complete(self) -> None:
        self._cancel_request_timer()
        super().on_message_complete()

    # -- timers ----------------------------------------------------------------------------------------

    def _arm(self, phase: str, seconds: float) -> None:
        self._cancel_request_timer()
        self._request_timer = self.loop.call_later(seconds, self._expired, phase, seconds)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _expired(self, phase: str, seconds: float) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        TIMED_OUT[phase] += 1
        cycle = self.cycle if phase == "body" else None
        if cycle is None or not cycle.response_started:
            what = "request headers" if phase == "headers" else "request body"
            self.transport.write(_timeout_response(f"the {what} did not arrive within {seconds:g}s"))
        # Closing marks the request disconnected: a task waiting for its body gets a disconnect and ends,
        # and anything it might still send is dropped by uvicorn.
        self.transport.close()

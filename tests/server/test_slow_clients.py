"""Slow and idle clients cannot hold connections: idle, header and body timeouts, checked on raw sockets."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.server.conftest import TOKEN, Served, Server, assert_clean_exit, start_server

IDLE, HEADERS, BODY = 0.6, 0.5, 0.7


@pytest.fixture(scope="module")
def guarded(serving_template: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import shutil

    folder = tmp_path_factory.mktemp("guarded")
    shutil.copytree(serving_template.root, folder / "repo")
    running = start_server(
        folder / "repo", folder, "--idle-timeout", str(IDLE), "--header-timeout", str(HEADERS),
        "--body-timeout", str(BODY),
    )  # fmt: skip
    yield running
    assert_clean_exit(running)


def _closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (reading what it sent first), at most ``limit``."""
    began = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {limit}s; it sent {received[:200]!r}")
    except ConnectionResetError:
        pass
    return time.monotonic() - began, received


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def test_a_connection_that_sends_nothing_is_closed(guarded: Server) -> None:
    with _connect(guarded) as sock:
        seconds, received = _closed_after(sock, IDLE + 3)
    assert received == b""
    assert IDLE * 0.8 < seconds < IDLE + 1


def test_an_idle_keep_alive_connection_is_closed(guarded: Server) -> None:
    with _connect(guarded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        seconds, received = _closed_after(sock, IDLE + 3)
    assert received.startswith(b"HTTP/1.1 200")
    assert seconds < IDLE + 1


def test_half_sent_headers_are_answered_408_and_closed(guarded: Server) -> None:
    with _connect(guarded) as sock:
        sock.sendall(b"POST /online-features HTTP/1.1\r\nHost: x\r\nContent-Le")
        seconds, received = _closed_after(sock, HEADERS + 3)
    assert HEADERS * 0.8 < seconds < HEADERS + 1
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), received
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["type"] == "request_timeout"


def test_headers_trickled_byte_by_byte_still_time_out(guarded: Server) -> None:
    """The header timeout bounds the whole head, not the gap between bytes."""
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with _connect(guarded) as sock:
        began = time.monotonic()
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            if time.monotonic() - began > HEADERS + 2:
                pytest.fail("the server kept reading a trickled head")
            time.sleep(0.02)
        _, received = _closed_after(sock, 3)
    assert time.monotonic() - began < HEADERS + 1.5
    assert received.startswith(b"HTTP/1.1 408") or received == b""


def test_a_half_sent_body_is_answered_408_and_closed(guarded: Server) -> None:
    with _connect(guarded) as sock:
        sock.sendall(
            b"POST /online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"features": ['
        )
        seconds, received = _closed_after(sock, BODY + 3)
    assert BODY * 0.8 < seconds < BODY + 1
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), received
    assert json.loads(body)["error"]["type"] == "request_timeout"


def test_requests_on_time_are_unaffected(guarded: Server) -> None:
    status, body, _ = guarded.request(
        "POST",
        "/online-features",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}},
    )
    assert status == 200, body
    # A keep-alive connection that sends its next request within the idle timeout stays open.
    conn = http.client.HTTPConnection("127.0.0.1", guarded.port, timeout=5)
    try:
        conn.request("GET", "/health")
        assert conn.getresponse().read()
        sock = conn.sock
        for _ in range(3):
            time.sleep(IDLE / 2)
            conn.request("GET", "/health")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
            assert conn.sock is sock  # the same connection, not a new one
    finally:
        conn.close()

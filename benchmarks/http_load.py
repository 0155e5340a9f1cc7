"""The load generator of the HTTP benchmark: a separate process speaking HTTP/1.1 over keep-alive sockets.

    python benchmarks/http_load.py '<json job>'

Job: ``{"host", "port", "path", "bodies": [...], "headers": {...}, "warmup", "requests", "concurrency"}``.
With concurrency 1 it is one blocking socket sending a request and reading the whole answer before the
next (a latency run); with more it is that many connections on one asyncio loop (uvloop when installed),
each sending its next request as soon as its answer is in (a throughput run). Bodies rotate. Every answer
must be 200 with a Content-Length body. Prints one ``RESULT {json}`` line: the count, latency percentiles
(ms), requests per second over the timed requests, and errors.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
import time
from typing import Any


def _requests(job: dict[str, Any]) -> list[bytes]:
    out = []
    extra = "".join(f"{k}: {v}\r\n" for k, v in job.get("headers", {}).items())
    for body in job["bodies"]:
        data = body.encode()
        head = (
            f"POST {job['path']} HTTP/1.1\r\nHost: {job['host']}:{job['port']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
        )
        out.append(head.encode() + data)
    return out


def _parse_head(buffer: bytes) -> tuple[int, int, int] | None:
    """(status, header length, body length) once the header block is complete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buffer[:end].split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked answers are not supported by this load generator")
    if length is None:
        raise RuntimeError("an answer without Content-Length")
    return status, end + 4, length


def _blocking(job: dict[str, Any], requests: list[bytes], count: int, times: list[float]) -> int:
    errors = 0
    sock = socket.create_connection((job["host"], job["port"]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    clock = time.perf_counter
    try:
        for i in range(count):
            began = clock()
            sock.sendall(requests[i % len(requests)])
            buffer = b""
            head = None
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                buffer += chunk
                if head is None:
                    head = _parse_head(buffer)
                if head is not None and len(buffer) >= head[1] + head[2]:
                    break
            times.append(clock() - began)
            if head[0] != 200:
                errors += 1
                if errors == 1:
                    print(f"non-200 answer: {buffer[:500]!r}", file=sys.stderr)
    finally:
        sock.close()
    return errors


async def _worker(job: dict[str, Any], requests: list[bytes], budget: list[int], times: list[float]) -> int:
    reader, writer = await asyncio.open_connection(job["host"], job["port"])
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    errors = 0
    clock = time.perf_counter
    i = 0
    try:
        while budget[0] > 0:
            budget[0] -= 1
            began = clock()
            writer.write(requests[i % len(requests)])
            i += 1
            head_bytes = await reader.readuntil(b"\r\n\r\n")
            status, _, length = _parse_head(head_bytes) or (0, 0, 0)
            await reader.readexactly(length)
            times.append(clock() - began)
            if status != 200:
                errors += 1
    finally:
        writer.close()
    return errors


async def _concurrent(job: dict[str, Any], requests: list[bytes], count: int, times: list[float]) -> int:
    budget = [count]
    results = await asyncio.gather(
        *(_worker(job, requests, budget, times) for _ in range(job["concurrency"]))
    )
    return sum(results)


def run(job: dict[str, Any]) -> dict[str, Any]:
    requests = _requests(job)
    concurrency = int(job["concurrency"])

    def phase(count: int) -> tuple[list[float], int, float, float]:
        times: list[float] = []
        began, cpu = time.perf_counter(), time.process_time()
        if concurrency == 1:
            errors = _blocking(job, requests, count, times)
        else:
            errors = asyncio.run(_concurrent(job, requests, count, times))
        return times, errors, time.perf_counter() - began, time.process_time() - cpu

    phase(int(job["warmup"]))
    times, errors, wall, cpu = phase(int(job["requests"]))
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))] * 1000

    return {
        "requests": len(times),
        "concurrency": concurrency,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(times) * 1000,
        "rps": len(times) / wall,
        "client_cpu_us": cpu / len(times) * 1e6,
        "errors": errors,
    }


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print("RESULT " + json.dumps(run(json.loads(sys.argv[1]))), flush=True)


if __name__ == "__main__":
    main()

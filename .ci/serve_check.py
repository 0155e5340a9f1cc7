"""`featurestore serve` on a materialized quickstart repo: /health and one /online-features answer 200.

    python .ci/serve_check.py REPO [--featurestore COMMAND]

REPO is a repo that .ci/quickstart.py has applied and materialized. The server listens on a free
loopback port, is asked for the health check and two accounts' features, then stopped with SIGTERM
(it must exit by itself). Standard library only, like quickstart.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_until_up(url: str, server: subprocess.Popen[str], seconds: float) -> tuple[int, Any]:
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            sys.exit(f"featurestore serve exited {server.returncode} before answering")
        try:
            return request(url)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--featurestore", help="the command to run (default: the installed script)")
    options = parser.parse_args()
    script = Path(sys.executable).parent / "featurestore"
    command = shlex.split(options.featurestore) if options.featurestore else [str(script)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*command, "--repo", str(options.repo), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ok = False
    try:
        status, health = wait_until_up(f"{base}/health", server, seconds=60)
        if status != 200 or health.get("status") != "ok":
            sys.exit(f"GET /health: {status} {health}")
        body = {"feature_service": "fraud_model_v1", "entities": {"account_id": [1, 2]}}
        status, online = request(f"{base}/online-features", body)
        if status != 200:
            sys.exit(f"POST /online-features: {status} {online}")
        present = {"balance": ["PRESENT", "PRESENT"], "logins": ["PRESENT", "PRESENT"]}
        if online["statuses"] != present or None in online["values"]["balance"]:
            sys.exit(f"POST /online-features: not every value is present: {online}")
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sys.exit("featurestore serve did not stop within 30s of SIGTERM")
        ok = True
    finally:
        if server.poll() is None:
            server.kill()
        log = server.communicate()[0]
        if not ok:
            print(f"--- featurestore serve output\n{log}", file=sys.stderr)
    print(f"serve ok on port {port}: /health and /online-features answered 200")
    if server.returncode not in (0, -signal.SIGTERM):
        sys.exit(f"featurestore serve exited {server.returncode} after SIGTERM\n{log}")


if __name__ == "__main__":
    main()

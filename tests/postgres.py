"""A private PostgreSQL server for the tests: ``initdb`` into a temporary folder, ``pg_ctl start`` on a free
loopback port, one database per test, stopped at the end of the session.

The binaries come from PATH or Debian's ``/usr/lib/postgresql/<major>/bin`` (``.ci/run`` installs the
``postgresql`` package). ``initdb`` refuses to run as root, so as root the server runs as the
``postgres`` user (Debian's package creates it) in a folder that user owns. Without binaries the tests
are skipped, except under ``CI=true``, where they fail.

The fixtures (``postgres_server``, ``postgres_url``: a fresh database) are imported by
``tests/conftest.py``; mark the tests ``postgres``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.online.conftest import free_port

SERVER_USER = "postgres"


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: PATH first, else the newest Debian install."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for folder in reversed(installed):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


@dataclass
class PostgresServer:
    """A running server; ``database()`` creates a fresh database and returns its URL."""

    binaries: Path
    folder: Path
    port: int
    as_user: str | None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A server binary, as the server's user."""
        command = [str(self.binaries / args[0]), *args[1:]]
        if self.as_user is not None:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def database(self) -> str:
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}")
    pytest.skip(reason)


def start_server() -> PostgresServer:
    """Start a private server (see the module docstring); skip or fail when that is impossible."""
    binaries = find_binaries()
    if binaries is None:
        _unavailable(
            "no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        )
    assert binaries is not None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'featurestore[postgres]')")
    as_user = None
    folder = Path(tempfile.mkdtemp(prefix="fs-pg-"))
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SERVER_USER)
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            _unavailable(f"running as root and there is no {SERVER_USER!r} user to run the server as")
            raise
        os.chown(folder, account.pw_uid, account.pw_gid)
        as_user = SERVER_USER
    server = PostgresServer(binaries, folder, free_port(), as_user)
    data = str(folder / "data")
    done = server.run("initdb", "-D", data, "-U", SERVER_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"initdb failed: {done.stderr.strip()[-500:]}")
    options = f"-k {folder} -h 127.0.0.1 -p {server.port} -F -c max_connections=200"
    done = server.run("pg_ctl", "-D", data, "-l", str(folder / "log"), "-w", "-o", options, "start")
    if done.returncode != 0:
        log = (folder / "log").read_text(errors="replace")[-800:] if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"pg_ctl start failed: {done.stderr.strip()[-300:]} {log}")
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh database on the session's server."""
    return postgres_server.database()

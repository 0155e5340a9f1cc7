"""Fixtures of the storage tests: one real SeaweedFS S3 server and bucket per session, a fresh prefix per test
(each bucket is a SeaweedFS collection with volumes of its own: a bucket per test would exhaust them).

Every test under this folder that takes ``s3`` is marked ``s3``; without ``weed`` those are skipped (under
``CI=true`` they fail: see ``tests/s3server.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.s3server import S3Server, start_server, stop_server
from tests.server.conftest import serving_repo, serving_template

__all__ = ["serving_repo", "serving_template"]


@pytest.fixture(scope="session")
def s3_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, str]]:
    server, process = start_server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server, server.new_bucket()
    finally:
        stop_server(process)


@dataclass(frozen=True)
class Bucket:
    """A fresh prefix of the session's bucket; the AWS variables of this test point at the server."""

    server: S3Server
    name: str
    prefix: str

    @property
    def url(self) -> str:
        """``s3://bucket/prefix``, this test's own."""
        return f"s3://{self.name}/{self.prefix}"


@pytest.fixture
def s3(s3_session: tuple[S3Server, str], monkeypatch: pytest.MonkeyPatch) -> Bucket:
    server, bucket = s3_session
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return Bucket(server, bucket, f"t-{uuid.uuid4().hex[:10]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here) and "s3" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)

"""The deployment tests share the storage tests' SeaweedFS server (``s3``), the server tests' Redis
(``redis_url``) and the suite's PostgreSQL (``postgres_url``, from ``tests/conftest.py``)."""

from tests.server.conftest import redis_url
from tests.storage.conftest import s3, s3_session

__all__ = ["redis_url", "s3", "s3_session"]

"""The deployment tests share the storage tests' SeaweedFS server (``s3``) and the suite's PostgreSQL
(``postgres_url``, from ``tests/conftest.py``)."""

from tests.storage.conftest import s3, s3_session

__all__ = ["s3", "s3_session"]

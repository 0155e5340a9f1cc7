"""``S3Storage``: bulk data under ``s3://bucket/prefix``, on pyarrow's ``S3FileSystem``.

Settings come from ``[storage]`` (``endpoint``, ``region``, the names of the credential variables) and fall
back to the standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
``AWS_SESSION_TOKEN``). Atomic writes: an object is uploaded from bytes built in memory (one PUT, or a
multipart upload that S3 makes visible only once complete); a large local file goes to a hidden temporary
key first and is copied into place by the server, so an interrupted upload never shows under its key.

The bucket is checked once, at the first use: a missing bucket, refused credentials or an unreachable
endpoint is one :class:`StorageError` naming the URL and the fix.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.errors import StorageError
from featurestore.storage.base import StoredObject, join_key, parquet_bytes

if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow import fs

    from featurestore.config import StorageConfig

SINGLE_PUT_BYTES = 64 * 1024 * 1024
"""Local files up to this size are uploaded from memory; larger ones through a temporary key."""
TMP_PREFIX = ".tmp"


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, prefix).

    >>> split_s3_url("s3://features/prod/")
    ('features', 'prod')
    """
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def s3_settings(config: StorageConfig) -> dict[str, Any]:
    """The ``S3FileSystem`` arguments of ``config``, the standard AWS variables filling what it leaves
    unset. No credentials (variables unset): pyarrow's default chain (profile files, instance roles)."""
    from pyarrow import fs

    env = os.environ
    settings: dict[str, Any] = {
        "region": config.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "connect_timeout": 5.0,
        "request_timeout": 60.0,
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=3),
    }
    endpoint = config.endpoint or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        settings["endpoint_override"] = host.rstrip("/")
        settings["scheme"] = scheme
    key, secret = env.get(config.access_key_env), env.get(config.secret_key_env)
    if key and secret:
        settings["access_key"] = key
        settings["secret_key"] = secret
        if env.get("AWS_SESSION_TOKEN"):
            settings["session_token"] = env["AWS_SESSION_TOKEN"]
    return settings


def s3_filesystem(config: StorageConfig) -> fs.S3FileSystem:
    """A pyarrow ``S3FileSystem`` for ``config`` (no request is made yet)."""
    from pyarrow import fs

    return fs.S3FileSystem(**s3_settings(config))


def describe_s3_error(exc: BaseException, url: str, config: StorageConfig) -> str:
    """What went wrong talking to S3 at ``url``, and the fix."""
    from featurestore.config import redact_url

    text = str(exc)
    where = redact_url(url)
    endpoint = config.endpoint or os.environ.get("AWS_ENDPOINT_URL") or "the AWS default endpoint"
    credentials = f"${config.access_key_env} / ${config.secret_key_env}"
    if any(s in text for s in ("INVALID_ACCESS_KEY_ID", "SignatureDoesNotMatch", "SIGNATURE_DOES_NOT_MATCH")):
        return (
            f"storage {where}: the credentials were refused by {endpoint}; set {credentials} to a valid "
            "access key and secret (or name other variables in [storage] access_key_env / secret_key_env)"
        )
    if "ACCESS_DENIED" in text or "AccessDenied" in text:
        return (
            f"storage {where}: access denied by {endpoint}; give the key in {credentials} read, write and "
            "list rights on the bucket"
        )
    if "NoSuchBucket" in text or "NO_SUCH_BUCKET" in text:
        return f"storage {where}: the bucket does not exist on {endpoint}; create it, or fix [storage] url"
    unreachable = ("curlCode", "Couldn't connect", "connect to", "NETWORK_CONNECTION", "timed out")
    if any(s in text for s in unreachable):
        return (
            f"storage {where}: cannot reach {endpoint} ({_first_line(text)}); start the server or fix "
            "[storage] endpoint (or AWS_ENDPOINT_URL)"
        )
    return f"storage {where}: {_first_line(text)}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


class S3Storage:
    """Objects under ``s3://bucket/prefix`` (see the module docstring)."""

    is_local = False

    def __init__(self, url: str, config: StorageConfig) -> None:
        self._url = url.rstrip("/")
        self.config = config
        self.bucket, self.prefix = split_s3_url(url)
        self._fs: fs.S3FileSystem | None = None
        self._checked = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    @property
    def filesystem(self) -> fs.S3FileSystem:
        """The pyarrow filesystem, after the bucket was checked once (:class:`StorageError` if unusable)."""
        with self._lock:
            if self._fs is None:
                self._fs = s3_filesystem(self.config)
            if not self._checked:
                self._check(self._fs)
                self._checked = True
            return self._fs

    def _check(self, filesystem: fs.S3FileSystem) -> None:
        from pyarrow import fs

        try:
            # Listing (one key at most) checks the bucket, the credentials and the endpoint at once.
            selector = fs.FileSelector(self._path(""), allow_not_found=True, recursive=False)
            filesystem.get_file_info(selector)
            bucket = filesystem.get_file_info(self.bucket)
        except OSError as exc:
            raise StorageError(describe_s3_error(exc, self._url, self.config)) from None
        if bucket.type == fs.FileType.NotFound:
            raise StorageError(describe_s3_error(OSError("NoSuchBucket"), self._url, self.config))

    def _path(self, key: str) -> str:
        return join_key(self.bucket, self.prefix, key)

    def _error(self, exc: OSError) -> StorageError:
        return StorageError(describe_s3_error(exc, self._url, self.config))

    def write_bytes(self, key: str, data: bytes) -> None:
        filesystem = self.filesystem
        try:
            # One buffer, one write: an exception before it uploads nothing, and S3 shows the object
            # only when the PUT (or the multipart upload) completes.
            with filesystem.open_output_stream(self._path(key)) as stream:
                stream.write(data)
        except OSError as exc:
            raise self._error(exc) from None

    def write_table(self, key: str, table: pa.Table) -> None:
        self.write_bytes(key, parquet_bytes(table))

    def put_file(self, key: str, path: Path) -> None:
        if path.stat().st_size <= SINGLE_PUT_BYTES:
            self.write_bytes(key, path.read_bytes())
            return
        filesystem = self.filesystem
        # An interrupted stream would still complete its upload: stream it to a hidden key, then let
        # the server copy it into place (atomic), so ``key`` never holds part of the file.
        tmp = join_key(TMP_PREFIX, f"{uuid.uuid4().hex}-{Path(key).name}")
        try:
            with open(path, "rb") as source, filesystem.open_output_stream(self._path(tmp)) as stream:
                while chunk := source.read(8 * 1024 * 1024):
                    stream.write(chunk)
            filesystem.copy_file(self._path(tmp), self._path(key))
        except OSError as exc:
            raise self._error(exc) from None
        finally:
            self.delete(tmp)

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes. pyarrow asks for the size, then reads a range of that size: an object
        replaced in between would come back cut to the old size. The size is asked again after the
        read, and the read repeated until both agree (objects replaced in place are small)."""
        from pyarrow import fs

        filesystem = self.filesystem
        path = self._path(key)
        try:
            for _ in range(10):
                with filesystem.open_input_file(path) as handle:
                    size = handle.size()
                    data = bytes(handle.read())
                after = filesystem.get_file_info(path)
                if len(data) == size and after.type == fs.FileType.File and after.size == size:
                    return data
            raise StorageError(f"storage {self._url}: {key} keeps changing while it is read; try again")
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.uri(key)} does not exist") from None
        except OSError as exc:
            if "NOT_FOUND" in str(exc) or "does not exist" in str(exc) or "Path does not exist" in str(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from None
            raise self._error(exc) from None

    def exists(self, key: str) -> bool:
        from pyarrow import fs

        try:
            return bool(self.filesystem.get_file_info(self._path(key)).type == fs.FileType.File)
        except OSError as exc:
            raise self._error(exc) from None

    def list(self, prefix: str) -> list[StoredObject]:
        from pyarrow import fs

        base = join_key(self.bucket, self.prefix)
        try:
            infos = self.filesystem.get_file_info(
                fs.FileSelector(self._path(prefix), allow_not_found=True, recursive=True)
            )
        except OSError as exc:
            raise self._error(exc) from None
        out = []
        for info in infos:
            if info.type != fs.FileType.File:
                continue
            key = info.path[len(base) :].strip("/")
            if any(part.startswith(".") for part in key.split("/")):
                continue
            modified = info.mtime.timestamp() if info.mtime is not None else 0.0
            out.append(StoredObject(key, modified, info.size or 0))
        return sorted(out, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        try:
            self.filesystem.delete_file(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            if "NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                return
            raise self._error(exc) from None

    def delete_prefix(self, prefix: str) -> None:
        if not join_key(prefix):
            raise StorageError(f"storage {self._url}: refusing to delete everything under the base")
        for stored in self.list(prefix):
            self.delete(stored.key)

    def uri(self, key: str) -> str:
        return "s3://" + self._path(key)

    def glob_uri(self, prefix: str, pattern: str = "*.parquet") -> str:
        return "s3://" + join_key(self._path(prefix), pattern)

"""``featurestore.toml`` -> typed config. The file is optional; every field has a default.

```toml
project = "rides"

[offline]                    # the engine that builds training sets and latest values
engine = "duckdb"            # or "spark": master = "local[*]" | remote = "sc://host:15002", conf = {...}
memory_limit = "4GB"
threads = 2

[online]                     # "sqlite" (default, embedded), "redis" or "redis_cluster"
type = "redis"
url = "redis://localhost:6379/0"      # or rediss:// for TLS; FEATURESTORE_ONLINE_URL overrides it
password_env = "REDIS_PASSWORD"       # the password is read from this variable, never stored

[registry]                   # default: files under .featurestore/ (one machine)
url = "postgresql://featurestore@db:5432/features"   # or sqlite:///path/registry.db
password_env = "FEATURESTORE_DB_PASSWORD"  # else libpq's own: PGPASSWORD, ~/.pgpass, ...

[storage]                    # push log, feature log, lifetime-aggregate states; default .featurestore/
url = "s3://features/prod"   # or a local folder
endpoint = "http://127.0.0.1:8333"   # S3-compatible servers; else AWS_ENDPOINT_URL or AWS itself

[materialize]
batch_size = 100000
lookback = "1h"              # re-read window for sources without a created timestamp
clock_skew = "5m"            # end times and pushed rows later than now plus this are refused
```
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from featurestore.config_env import PREFIX, expand, overrides
from featurestore.errors import ConfigError

CONFIG_FILE = "featurestore.toml"
STATE_DIR = ".featurestore"
ONLINE_URL_ENV = "FEATURESTORE_ONLINE_URL"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# What DuckDB accepts as a memory limit: a size with a unit (decimal or binary), or a share of the RAM.
_MEMORY_LIMIT = re.compile(r"^\s*\d+(\.\d+)?\s*([KMGT]i?B?|%)\s*$", re.IGNORECASE)


class DuckDBConfig(_Section):
    engine: Literal["duckdb"] = "duckdb"
    memory_limit: str = "4GB"
    threads: int | None = None
    temp_directory: str = f"{STATE_DIR}/tmp"

    @field_validator("memory_limit")
    @classmethod
    def _memory_limit(cls, value: str) -> str:
        match = _MEMORY_LIMIT.match(value)
        if not match or (match.group(2) == "%" and not 0 < float(value.strip()[:-1]) <= 100):
            raise ValueError(
                f"{value!r} is not a memory size; write a number and a unit, like '4GB', '512MB', '8GiB' "
                "or '50%' (of the machine's memory)"
            )
        return value

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"{value} threads: it must be at least 1 (or left out: one per core)")
        return value


class SparkConfig(_Section):
    """The Spark engine: a local master, a cluster master URL, or a Spark Connect server (``remote``).

    ``conf`` is passed to the session builder as is (``spark.executor.memory``, ...).

    >>> SparkConfig(engine="spark", remote="sc://localhost:15002").remote
    'sc://localhost:15002'
    """

    engine: Literal["spark"]
    master: str = "local[*]"
    remote: str | None = None
    conf: dict[str, str] = {}

    @model_validator(mode="after")
    def _master_or_remote(self) -> SparkConfig:
        if self.remote is not None and "master" in self.model_fields_set:
            raise ValueError(
                f"both master = {self.master!r} and remote = {self.remote!r} are set; keep one: master for "
                "a Spark cluster or local[*], remote for a Spark Connect server (sc://host:15002)"
            )
        if self.remote is not None and not self.remote.startswith("sc://"):
            raise ValueError(
                f"remote = {self.remote!r} is not a Spark Connect URL; write it like sc://host:15002"
            )
        return self


ENGINE_NAMES = ("duckdb", "spark")


def _engine_of(value: Any) -> str:
    """The ``engine`` tag of an ``[offline]`` section; a section without one is DuckDB (the default)."""
    if isinstance(value, dict):
        return str(value.get("engine", "duckdb"))
    return str(getattr(value, "engine", "duckdb"))


OfflineConfig = Annotated[
    Annotated[DuckDBConfig, Tag("duckdb")] | Annotated[SparkConfig, Tag("spark")],
    Discriminator(
        _engine_of,
        custom_error_type="unknown_engine",
        custom_error_message=f"unknown engine; known: {', '.join(ENGINE_NAMES)}",
    ),
]


class SqliteOnlineConfig(_Section):
    type: Literal["sqlite"] = "sqlite"
    path: str = f"{STATE_DIR}/online.db"


class RedisOnlineConfig(_Section):
    type: Literal["redis"] = "redis"
    url: str = "redis://localhost:6379/0"
    password_env: str | None = None
    connect_timeout: float = Field(default=2.0, gt=0)
    read_timeout: float = Field(default=2.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        check_redis_url(value)
        return value


class RedisClusterOnlineConfig(RedisOnlineConfig):
    type: Literal["redis_cluster"] = "redis_cluster"  # type: ignore[assignment]


OnlineConfig = Annotated[
    SqliteOnlineConfig | RedisOnlineConfig | RedisClusterOnlineConfig, Field(discriminator="type")
]


class RegistryConfig(_Section):
    """Where the registry and the runtime state live.

    ``url``: ``None`` (files under ``.featurestore/``), ``sqlite:///abs/path.db`` / ``sqlite:rel/path.db``
    (relative to the repo root) or ``postgresql://user@host:5432/db``. The password comes from
    ``password_env`` or libpq's own mechanisms (``PGPASSWORD``, ``~/.pgpass``, a service file); it is never
    stored in the registry nor printed. ``history``: how many registry versions and runs are kept.
    ``refresh``: how often a long-lived reader (a server, an SDK in a serving process) looks for a newly
    applied registry or state in a database (files are looked at every 0.1 s, by their time stamps).
    ``on_demand_code``: where servers take on-demand functions from that are not in a local
    ``definitions/`` folder: ``"registry"`` (the source recorded at apply; whoever may apply may run code
    on servers) or ``"packages"`` (only importable modules of installed packages).

    >>> RegistryConfig(url="postgresql://fs@db:5432/features").scheme
    'postgresql'
    >>> RegistryConfig().scheme
    'files'
    """

    url: str | None = None
    password_env: str | None = None
    history: int = Field(default=100, ge=1)
    refresh: timedelta = timedelta(seconds=5)
    on_demand_code: Literal["registry", "packages"] = "registry"

    @field_validator("refresh", mode="before")
    @classmethod
    def _refresh(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.partition(":")[0].lower()
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                f"{redact_url(value)!r} is not a registry URL; write postgresql://user@host:5432/db, "
                "sqlite:///abs/path/registry.db, or leave it out for files under .featurestore/"
            )
        return value

    @property
    def scheme(self) -> Literal["files", "sqlite", "postgresql"]:
        if self.url is None:
            return "files"
        return "sqlite" if self.url.lower().startswith("sqlite:") else "postgresql"


class StorageConfig(_Section):
    """Where bulk data lives: the push log, the feature log and the lifetime-aggregate states.

    ``url``: ``None`` (``.featurestore/`` under the repo root), a local folder (relative to the repo
    root), or ``s3://bucket/prefix``. For S3: ``endpoint`` (an S3-compatible server, like
    ``http://127.0.0.1:8333``), ``region``, and the credentials from the variables named by
    ``access_key_env`` / ``secret_key_env`` (the standard AWS ones by default); unset settings fall back
    to the standard AWS environment variables (``AWS_ENDPOINT_URL``, ``AWS_REGION``, ...).

    >>> StorageConfig(url="s3://features/prod").is_s3
    True
    """

    url: str | None = None
    endpoint: str | None = None
    region: str | None = None
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "://" in value and not value.startswith("s3://"):
            raise ValueError(
                f"{redact_url(value)!r}: storage is a local folder or s3://bucket/prefix; "
                f"{value.partition('://')[0]}:// is not supported"
            )
        if value.startswith("s3://") and not value[5:].strip("/"):
            raise ValueError(f"{value!r} names no bucket; write it like s3://bucket/prefix")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {value!r} must start with http:// or https://")
        return value

    @property
    def is_s3(self) -> bool:
        return self.url is not None and self.url.startswith("s3://")


class MaterializeConfig(_Section):
    batch_size: int = Field(default=100_000, gt=0)
    lookback: timedelta = timedelta(hours=1)
    clock_skew: timedelta = timedelta(minutes=5)
    statistics: bool = True
    """Profile the features of every run (``featurestore stats``): count, nulls, moments, sketches."""

    @field_validator("lookback", "clock_skew", mode="before")
    @classmethod
    def _lookback(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value


class RepoConfig(_Section):
    project: str = "default"
    offline: OfflineConfig = DuckDBConfig()
    online: OnlineConfig = SqliteOnlineConfig()
    materialize: MaterializeConfig = MaterializeConfig()
    registry: RegistryConfig = RegistryConfig()
    storage: StorageConfig = StorageConfig()

    @field_validator("offline", mode="before")
    @classmethod
    def _known_engine(cls, value: Any) -> Any:
        engine = _engine_of(value)
        if engine not in ENGINE_NAMES:
            raise ValueError(f"engine = {engine!r} is not an engine; known: {', '.join(ENGINE_NAMES)}")
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(f"project {value!r} must be an identifier (letters, digits, '_')")
        return value


def _setting_names() -> dict[str, frozenset[str]]:
    """The settings of each section (every engine's and every store's), for the override variables."""

    def names(*models: type[BaseModel]) -> frozenset[str]:
        return frozenset(name for model in models for name in model.model_fields)

    return {
        "": frozenset({"project"}),
        "offline": names(DuckDBConfig, SparkConfig),
        "online": names(SqliteOnlineConfig, RedisOnlineConfig, RedisClusterOnlineConfig),
        "materialize": names(MaterializeConfig),
        "registry": names(RegistryConfig),
        "storage": names(StorageConfig),
    }


def load_config(root: Path) -> RepoConfig:
    """Read ``featurestore.toml`` under ``root`` (optional), expand its ``${VAR}`` references and apply the
    environment's overrides (``FEATURESTORE_<SECTION>_<SETTING>``: ``featurestore/config_env.py``)."""
    path = root / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: byte {exc.start} is not UTF-8; TOML files are UTF-8, save the file as UTF-8"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: cannot parse: {exc}. Fix the TOML syntax.") from None
    data = expand(data, str(path), os.environ)
    overridden: dict[str, str] = {}  # setting -> the variable that set it (for error messages)
    for section, values in overrides(os.environ, _setting_names()).items():
        target = data if not section else data.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{path}: {section} must be a table ([{section}]) to take overrides")
        for key, value in values.items():
            target[key] = value
            dotted = f"{section}.{key}" if section else key
            overridden[dotted] = f"{PREFIX}{dotted.replace('.', '_').upper()}"
    registry = data.get("registry")
    shared = isinstance(registry, dict) and str(registry.get("url") or "").lower().startswith("postgres")
    if "project" not in data and shared:
        # The folder's name differs from one machine (and checkout) to the next: a scheduler in /srv/jobs
        # would write a project that no server in /app ever reads.
        raise ConfigError(
            f"{path}: [registry] url is a PostgreSQL registry, shared by many repos and machines, so the "
            'project must be named: add project = "<name>" at the top of featurestore.toml (or set '
            f"{PREFIX}PROJECT), the same in every process of the deployment"
        )
    if "project" not in data:
        data["project"] = re.sub(r"[^A-Za-z0-9_]", "_", root.resolve().name) or "default"
        if data["project"][0].isdigit():
            data["project"] = "_" + data["project"]
    url = os.environ.get(ONLINE_URL_ENV)
    if url:
        online = dict(data.get("online", {}))
        online["url"] = url
        if online.get("type", "sqlite") == "sqlite":
            online["type"] = "redis"
        online.pop("path", None)
        data["online"] = online
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # The tagged union puts the store type in the location: online.redis.url -> online.url.
            tags = ("sqlite", "redis", "redis_cluster", *ENGINE_NAMES)
            loc = [str(p) for p in error["loc"] if p not in tags]
            key = ".".join(loc)
            if url and key == "online.url":
                key = f"${ONLINE_URL_ENV} (it overrides online.url)"
            elif key in overridden:
                key = f"${overridden[key]} (it overrides {key})"
            problems.append(f"{key}: {str(error['msg']).removeprefix('Value error, ')}")
        raise ConfigError(f"{path}: {'; '.join(problems)}") from None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d|w)\s*$")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h"``, ``"7d"`` -> timedelta.

    >>> parse_duration("36h")
    datetime.timedelta(days=1, seconds=43200)
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"duration {text!r} is not like '90s', '15m', '1h', '7d'")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_time(text: str, *, allow_now: bool = False) -> datetime:
    """An ISO 8601 time (``Z`` accepted; without a zone: UTC), or ``now`` where allowed; always aware.
    Raises ``ValueError`` (callers name the argument or column in their own error).

    >>> parse_time("2026-11-01T12:00:00Z").isoformat(), parse_time("2026-11-01T14:00:00+02:00").isoformat()
    ('2026-11-01T12:00:00+00:00', '2026-11-01T14:00:00+02:00')
    >>> parse_time("2026-11-01").isoformat()
    '2026-11-01T00:00:00+00:00'
    """
    text = text.strip()
    if allow_now and text.lower() == "now":
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_duration(delta: timedelta | None) -> str:
    """The inverse of ``parse_duration`` for display; ``None`` reads as ``none``.

    >>> format_duration(timedelta(days=2)), format_duration(timedelta(minutes=90))
    ('2d', '90m')
    """
    if delta is None:
        return "none"
    micros = delta // timedelta(microseconds=1)
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = int(_UNITS[unit] * 1_000_000)
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"


def check_redis_url(url: str) -> None:
    """Refuse a Redis URL that redis-py would reject or silently misread; messages never show the
    password.

    >>> check_redis_url("redis://:pw@cache:6379/2")
    >>> check_redis_url("redis://:p@ss@cache:port/2")
    Traceback (most recent call last):
    ...
    ValueError: 'redis://***@cache:port/2': the port 'port' is not a number; write it like redis://host:6379/0
    """
    shown = redact_url(url)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"{shown!r} must start with redis://, rediss:// or unix://")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if {"password", "username", "user"} & set(query):
        raise ValueError(
            f"{shown!r} has a credential in its query string, which is not where it is read from: "
            "put the password in the URL (redis://:PASSWORD@host:6379/0) or, better, in an environment "
            "variable named by online.password_env"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"{shown!r} names no socket; write it like unix:///run/redis.sock?db=0")
        return
    port_text = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    if port_text and not port_text.isdigit():
        raise ValueError(
            f"{shown!r}: the port {port_text!r} is not a number; write it like redis://host:6379/0"
        )
    if port_text and not 0 < int(port_text) <= 65535:
        raise ValueError(f"{shown!r}: the port {port_text} is not between 1 and 65535")
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ValueError(
            f"{shown!r}: the database {database!r} is not a number (Redis databases are numbered); write "
            "it like redis://localhost:6379/0"
        )


def redact_url(url: str) -> str:
    """The URL with its credentials (user info, and any password in the query) replaced by ``***``.

    >>> redact_url("redis://user:p@ss@host:6379/0?password=x&db=1")
    'redis://***@host:6379/0?password=***&db=1'
    """
    # The user info ends at the last '@' before the path: a password may itself hold an '@'.
    url = re.sub(r"//[^/?#]*@", "//***@", url, count=1)
    return re.sub(r"(?i)([?&](?:password|pass|pwd|username|user)=)[^&#]*", r"\1***", url)

"""``featurestore.toml`` -> typed config. The file is optional; every field has a default.

```toml
project = "rides"

[offline]                    # the engine that builds training sets and latest values
engine = "duckdb"
memory_limit = "4GB"
threads = 2

[online]                     # "sqlite" (default, embedded), "redis" or "redis_cluster"
type = "redis"
url = "redis://localhost:6379/0"      # or rediss:// for TLS; FEATURESTORE_ONLINE_URL overrides it
password_env = "REDIS_PASSWORD"       # the password is read from this variable, never stored

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
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from featurestore.errors import ConfigError

CONFIG_FILE = "featurestore.toml"
STATE_DIR = ".featurestore"
ONLINE_URL_ENV = "FEATURESTORE_ONLINE_URL"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DuckDBConfig(_Section):
    engine: Literal["duckdb"] = "duckdb"
    memory_limit: str = "4GB"
    threads: int | None = None
    temp_directory: str = f"{STATE_DIR}/tmp"


class SqliteOnlineConfig(_Section):
    type: Literal["sqlite"] = "sqlite"
    path: str = f"{STATE_DIR}/online.db"


class RedisOnlineConfig(_Section):
    type: Literal["redis"] = "redis"
    url: str = "redis://localhost:6379/0"
    password_env: str | None = None
    connect_timeout: float = 2.0
    read_timeout: float = 2.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"url {_redact(value)!r} must start with redis://, rediss:// or unix://")
        return value


class RedisClusterOnlineConfig(RedisOnlineConfig):
    type: Literal["redis_cluster"] = "redis_cluster"  # type: ignore[assignment]


OnlineConfig = Annotated[
    SqliteOnlineConfig | RedisOnlineConfig | RedisClusterOnlineConfig, Field(discriminator="type")
]


class MaterializeConfig(_Section):
    batch_size: int = Field(default=100_000, gt=0)
    lookback: timedelta = timedelta(hours=1)
    clock_skew: timedelta = timedelta(minutes=5)

    @field_validator("lookback", "clock_skew", mode="before")
    @classmethod
    def _lookback(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value


class RepoConfig(_Section):
    project: str = "default"
    offline: DuckDBConfig = DuckDBConfig()
    online: OnlineConfig = SqliteOnlineConfig()
    materialize: MaterializeConfig = MaterializeConfig()

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(f"project {value!r} must be an identifier (letters, digits, '_')")
        return value


def load_config(root: Path) -> RepoConfig:
    """Read ``featurestore.toml`` under ``root`` (optional) and apply environment overrides."""
    path = root / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: cannot parse: {exc}. Fix the TOML syntax.") from None
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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


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


def _redact(url: str) -> str:
    return re.sub(r"//([^@/]*)@", "//***@", url)

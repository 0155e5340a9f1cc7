"""``open_online_store(config, repo_root)``: the one place that maps an ``[online]`` config to a store.

Store modules are imported here, lazily, so ``import featurestore.online`` never imports ``redis``.
To add a store: write ``featurestore/online/<name>.py`` with a class satisfying ``OnlineStore`` (run
``tests/online/test_contract.py`` against it), add its config class to ``featurestore/config.py`` and one
branch below.
"""

from __future__ import annotations

from pathlib import Path

from featurestore.config import RedisClusterOnlineConfig, RedisOnlineConfig, SqliteOnlineConfig
from featurestore.errors import ConfigError
from featurestore.online.base import OnlineStore


def open_online_store(
    config: SqliteOnlineConfig | RedisOnlineConfig | RedisClusterOnlineConfig, repo_root: Path
) -> OnlineStore:
    """Open the online store described by ``config``; relative SQLite paths are under ``repo_root``.

    Redis stores connect lazily: an unreachable server is reported (as ``OnlineStoreError``) by the
    first read or write, within the configured timeouts.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     store = open_online_store(SqliteOnlineConfig(), Path(root))
    ...     print(store.capabilities.name, store.path.relative_to(root))
    ...     store.close()
    sqlite .featurestore/online.db
    """
    if isinstance(config, SqliteOnlineConfig):
        from featurestore.online.sqlite import SqliteOnlineStore

        path = Path(config.path)
        return SqliteOnlineStore(path if path.is_absolute() else repo_root / path)
    if isinstance(config, RedisOnlineConfig):  # RedisClusterOnlineConfig is a subclass
        from featurestore.online.redis import RedisSettings

        settings = RedisSettings.from_config(
            config.url, config.password_env, config.connect_timeout, config.read_timeout
        )
        if isinstance(config, RedisClusterOnlineConfig):
            from featurestore.online.redis_cluster import RedisClusterOnlineStore

            return RedisClusterOnlineStore(settings)
        from featurestore.online.redis import RedisOnlineStore

        return RedisOnlineStore(settings)
    raise ConfigError(f"unknown online store config {type(config).__name__}")

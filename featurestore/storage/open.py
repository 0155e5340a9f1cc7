"""The storage of a repo: ``[storage] url`` opened, once per process.

``open_storage(config, root)``: ``url`` unset -> ``<root>/.featurestore`` (today's paths); a local folder
(relative to ``root``); ``s3://bucket/prefix`` -> :class:`S3Storage`. Nothing is contacted until the first
read or write.

``storage_for(root)`` is what code handed only a repo root uses (the planners, the feature-log writer):
the storage of the config a ``FeatureStore`` on that root was opened with (``remember_storage``), else the
one of ``<root>/featurestore.toml``. One object per (root, settings), so every caller shares its S3 client.

    >>> from featurestore.config import StorageConfig
    >>> open_storage(StorageConfig(), Path("/repo")).url
    '/repo/.featurestore'
    >>> open_storage(StorageConfig(url="s3://features/prod"), Path("/repo")).url
    's3://features/prod'
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.storage.base import Storage
from featurestore.storage.local import LocalStorage
from featurestore.storage.s3 import S3Storage

if TYPE_CHECKING:
    from featurestore.config import StorageConfig

_lock = threading.Lock()
_configs: dict[str, StorageConfig] = {}
_opened: dict[tuple[str, str], Storage] = {}


def open_storage(config: StorageConfig, root: Path) -> Storage:
    """A new :class:`Storage` for ``config`` (see the module docstring)."""
    from featurestore.config import STATE_DIR

    if config.url is None:
        return LocalStorage(root / STATE_DIR)
    if config.is_s3:
        return S3Storage(config.url, config)
    folder = Path(config.url).expanduser()
    return LocalStorage(folder if folder.is_absolute() else root / folder)


def remember_storage(root: Path, config: StorageConfig) -> None:
    """Code handed only ``root`` uses ``config``'s storage from now on (a ``FeatureStore`` calls this)."""
    with _lock:
        _configs[str(root.resolve())] = config


def storage_for(root: Path, config: StorageConfig | None = None) -> Storage:
    """The storage of the repo at ``root``: of ``config`` when given, else the remembered or configured
    one; the same object on every call with the same settings."""
    key = str(root.resolve())
    if config is None:
        with _lock:
            config = _configs.get(key)
        if config is None:
            from featurestore.config import load_config

            config = load_config(root).storage
    ident = (key, config.model_dump_json())
    with _lock:
        storage = _opened.get(ident)
        if storage is None:
            storage = _opened[ident] = open_storage(config, root.resolve())
        return storage

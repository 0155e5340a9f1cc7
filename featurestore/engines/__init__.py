"""Engines run SQL and return Arrow. Looked up by name; the client library is imported lazily.

To add an engine: a module with a class implementing ``Engine`` (``base.py``), and one line in
``ENGINES`` below. Core code asks ``engine.capabilities``, never ``isinstance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.engines.base import Capabilities, Engine
from featurestore.errors import ConfigError

if TYPE_CHECKING:
    from featurestore.config import DuckDBConfig, SparkConfig, StorageConfig

ENGINES = {
    "duckdb": "featurestore.engines.duckdb:DuckDBEngine",
    "spark": "featurestore.engines.spark:SparkEngine",
}


def open_engine(
    config: DuckDBConfig | SparkConfig, root: Path, storage: StorageConfig | None = None
) -> Engine:
    """The engine named in the config, connected and ready; ``storage`` gives the endpoint and
    credentials it reads ``s3://`` paths with."""
    import importlib

    target = ENGINES.get(config.engine)
    if target is None:
        raise ConfigError(f"unknown engine {config.engine!r}; known: {', '.join(ENGINES)}")
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    engine: Engine = cls(config, root, storage)
    return engine


__all__ = ["Capabilities", "Engine", "open_engine"]

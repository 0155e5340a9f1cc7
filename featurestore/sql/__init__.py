"""Plans -> SQL. SQL is a sqlglot tree until the last line; one renderer per dialect.

A renderer may import ``featurestore.plan`` and sqlglot, nothing that runs queries. Callers ask
``renderer_for(engine.capabilities)`` for the renderer of their engine's dialect (``renderer.py`` holds
the ``Renderer`` protocol: one ``render_*`` method per statement the project runs).

To add a dialect: a module with a class implementing ``Renderer``, one line in ``RENDERERS`` below, and
golden files under ``tests/golden/<dialect>/``. Lower what the dialect cannot do (Spark has no ASOF
join) inside the renderer, never in the planner.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

from featurestore.errors import ConfigError
from featurestore.sql.renderer import Renderer

if TYPE_CHECKING:
    from featurestore.engines.base import Capabilities

RENDERERS = {
    "duckdb": "featurestore.sql.duckdb_renderer:DuckDBRenderer",
    "spark": "featurestore.sql.spark_renderer:SparkRenderer",
}
"""Dialect (``Capabilities.dialect``) -> ``module:class`` of its renderer, imported on first use."""


def renderer_for(capabilities: Capabilities) -> Renderer:
    """The renderer of an engine's dialect (one object per dialect, made on first use).

    >>> from featurestore.engines.base import Capabilities
    >>> renderer_for(Capabilities(dialect="duckdb", asof_join=True, streams_parquet=True)).dialect
    'duckdb'
    >>> oracle = Capabilities(dialect="oracle", asof_join=False, streams_parquet=False)
    >>> renderer_for(oracle)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    featurestore.errors.ConfigError: the engine's SQL dialect 'oracle' has no renderer; known: ...
    """
    return _renderer(capabilities.dialect)


@functools.cache
def _renderer(dialect: str) -> Renderer:
    target = RENDERERS.get(dialect)
    if target is None:
        raise ConfigError(
            f"the engine's SQL dialect {dialect!r} has no renderer; known: {', '.join(RENDERERS)}. Use an "
            "engine of a known dialect, or add a renderer to RENDERERS in featurestore/sql/__init__.py"
        )
    module_name, cls_name = target.split(":")
    renderer: Renderer = getattr(importlib.import_module(module_name), cls_name)()
    return renderer


__all__ = ["RENDERERS", "Renderer", "renderer_for"]

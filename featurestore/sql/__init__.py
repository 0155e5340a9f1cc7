"""Plans -> SQL. SQL is a sqlglot tree until the last line; one renderer per dialect.

A renderer may import ``featurestore.plan`` and sqlglot, nothing that runs queries.
To add a dialect: a module with ``render_training_set`` and ``render_latest``; lower what the
dialect cannot do (Spark has no ASOF join) inside the renderer, never in the planner.
"""

from featurestore.sql.duckdb import render_latest, render_latest_stats, render_training_set

__all__ = ["render_latest", "render_latest_stats", "render_training_set"]

"""Aggregate functions as objects: what each windowed-aggregation function is, for every renderer.

``base.py`` holds ``AggregateFunction``: a function's name, the column kinds it accepts, its output dtype,
how the training-set sweep computes it over a window (``sweep``: running totals, range frames or the
latest event), its empty value, and as sqlglot expressions over event rows its plain aggregate and its
mergeable partial state (parts, made from events, merged two by two, finished into the value).
``functions.py`` holds one small class per function and the registry ``FUNCTIONS`` / ``function(name)``.
Renderers (``sql/window*.py``) and the definitions (``dsl/aggregation.py``) ask these objects instead of
matching function names.

May import: ``featurestore.dsl.dtypes`` (for typing only: the dsl imports this package),
``featurestore.errors`` and sqlglot. No I/O, no engine, no plan.

To add a function: one class in ``functions.py`` (its attributes and the SQL of its state), one entry in
``FUNCTIONS``, its name in ``dsl.aggregation.Function``, one case in ``tests/golden/test_aggregate_sql.py``
(then ``pytest --update-golden`` writes ``tests/golden/duckdb/aggregate_<name>.sql`` and
``tests/golden/spark/aggregate_<name>.sql``: review them), and its rows in
``tests/test_aggregate_functions.py``. If Spark cannot run its ``aggregate`` over a window frame (a
DISTINCT aggregate), one entry in ``featurestore/sql/spark_window.py``'s ``FRAME_AGGREGATES``.
"""

from featurestore.aggregates.base import AggregateFunction, ColumnKind, Events, StatePart, Sweep
from featurestore.aggregates.functions import FUNCTIONS, function, unknown_function

__all__ = [
    "FUNCTIONS",
    "AggregateFunction",
    "ColumnKind",
    "Events",
    "StatePart",
    "Sweep",
    "function",
    "unknown_function",
]

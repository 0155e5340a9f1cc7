"""SQL text checked before it runs, with sqlglot (DuckDB dialect unless told).

* ``parse_query``: exactly one statement, and a query (``SELECT``, ``WITH ... SELECT``, ``VALUES``, a
  set operation), parsed in the given dialect (a ``SqlSource``'s own): what a ``SqlSource`` must be,
  since it is used as a subquery.
* ``relative_file_reads``: the relative paths a Spark SQL query reads (``parquet.`data/x.parquet` ``):
  Spark would resolve them against its driver's working directory, not the repo root, so apply refuses
  them.
* ``check_self_contained``: a query that reads nothing but its own text: rows come only from
  ``VALUES``, ``range``/``generate_series``, ``unnest`` and its own CTEs and subqueries. That is what
  SQL from a caller (entity rows) may be; it then runs where it cannot reach files or the network anyway
  (``DuckDBEngine.query_caller_sql``), the check only gives the clear message first.

Both raise ``QueryRefused`` with the reason; callers add what the SQL was for and where it came from.

>>> parse_query("SELECT 1 AS a").sql("duckdb")
'SELECT 1 AS a'
>>> parse_query("SELECT 1; SELECT 2")
Traceback (most recent call last):
...
featurestore.engines.queries.QueryRefused: it holds 2 statements; write one query
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

DIALECT = "duckdb"
_DIALECT_NAMES = {"duckdb": "DuckDB", "spark": "Spark"}
# Spark SQL's ``format.`path` `` reads: the formats whose "database" part is a file reader.
_SPARK_FILE_FORMATS = frozenset({"parquet", "csv", "json", "orc", "text", "avro", "binaryfile", "delta"})


class QueryRefused(ValueError):
    """The SQL text is not what its place allows (the message says why)."""


def parse_query(sql: str, dialect: str | type[Dialect] = DIALECT) -> exp.Expr:
    """The syntax tree of ``sql`` (in sqlglot's ``dialect``, a name or a ``Dialect`` class) if it is
    exactly one query; ``QueryRefused`` otherwise.

    >>> parse_query("SELECT * FROM parquet.`/d/x.parquet`", "spark").sql("spark")
    'SELECT * FROM parquet.`/d/x.parquet`'
    >>> parse_query("SELECT * FROM t WHERE", "spark")
    Traceback (most recent call last):
    ...
    featurestore.engines.queries.QueryRefused: it is not valid Spark SQL: ...
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, SqlglotError, TokenError

    key = dialect.lower() if isinstance(dialect, str) else dialect.__name__.lower().removesuffix("dialect")
    name = _DIALECT_NAMES.get(key, key)
    logger = logging.getLogger("sqlglot")
    level = logger.level
    # sqlglot logs a warning when it falls back to an opaque command (INSTALL, LOAD, CALL): that is
    # refused below with a message of our own, so the warning would only add a second line.
    logger.setLevel(logging.ERROR)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except TokenError as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise QueryRefused(f"it is not valid {name} SQL: it cannot be split into tokens{cause}") from None
    except ParseError as exc:
        raise QueryRefused(f"it is not valid {name} SQL: {_parse_problem(exc)}") from None
    except SqlglotError as exc:
        raise QueryRefused(f"it is not valid {name} SQL: {exc}") from None
    finally:
        logger.setLevel(level)
    if not statements:
        raise QueryRefused("it holds no statement; write one query (SELECT ..., WITH ..., VALUES ...)")
    if len(statements) > 1:
        raise QueryRefused(f"it holds {len(statements)} statements; write one query")
    tree = statements[0]
    if not isinstance(tree, exp.Query | exp.Values):
        raise QueryRefused(
            f"it is a {_statement_name(tree, sql)} statement, not a query; write one query "
            "(SELECT ..., WITH ..., VALUES ...)"
        )
    statements_inside = _statement_types()
    for node in tree.walk():
        if isinstance(node, statements_inside):
            raise QueryRefused(
                f"it holds a {_statement_name(node, sql)} statement inside the query; write one read-only "
                "query"
            )
    return tree


def relative_file_reads(tree: exp.Expr) -> list[str]:
    """The relative paths of the Spark file reads (``parquet.`path` ``, ``csv.`path` ``, ...) in a
    parsed Spark SQL query: neither absolute nor a URI (``s3a://...``, ``file:/...``).

    >>> relative_file_reads(parse_query(
    ...     "SELECT * FROM parquet.`data/a.parquet` JOIN csv.`/abs/b.csv` USING (k) JOIN db.t USING (k)",
    ...     "spark"))
    ['data/a.parquet']
    """
    from sqlglot import exp

    paths = []
    for table in tree.find_all(exp.Table):
        if table.db.lower() in _SPARK_FILE_FORMATS and not table.catalog:
            path = table.name
            if not path.startswith("/") and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path):
                paths.append(path)
    return paths


def check_self_contained(tree: exp.Expr) -> None:
    """Refuse a query whose rows come from anything but its own text (files, tables, table functions).

    >>> check_self_contained(parse_query("WITH k AS (SELECT * FROM range(3) t(i)) SELECT i FROM k"))
    >>> check_self_contained(parse_query("SELECT * FROM read_csv('/etc/passwd')"))
    Traceback (most recent call last):
    ...
    featurestore.engines.queries.QueryRefused: it reads READ_CSV(...), which may reach files or the network
    """
    from sqlglot import exp

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        source = table.this
        if isinstance(source, exp.GenerateSeries | exp.Unnest | exp.Values | exp.Subquery):
            continue
        if isinstance(source, exp.Identifier) and not table.db and source.name.lower() in ctes:
            continue
        if isinstance(source, exp.Identifier):
            raise QueryRefused(
                f"it reads {table.sql(DIALECT)!s}, a table or file it may not read; only VALUES, "
                "range(...), unnest(...) and its own WITH queries are readable"
            )
        name = source.sql(DIALECT).split("(", 1)[0] if source is not None else "?"
        raise QueryRefused(f"it reads {name}(...), which may reach files or the network")


def _statement_name(node: exp.Expr, sql: str) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Command):
        return str(node.this).upper()
    words = re.findall(r"[A-Za-z]+", node.sql(DIALECT) or sql)
    return words[0].upper() if words else type(node).__name__.upper()


def _parse_problem(exc: Exception) -> str:
    """sqlglot's first parse error without its token dumps: ``Expected table name but got 'WHERE'
    (line 1, column 17)``."""
    errors = getattr(exc, "errors", None) or []
    if not errors:
        return str(exc).splitlines()[0]
    first = errors[0]
    text = re.sub(r"<Token token_type: [^,]*, text: (.*?), line: .*?>", r"'\1'", str(first["description"]))
    return f"{text} (line {first['line']}, column {first['col']})"


def _statement_types() -> tuple[type, ...]:
    from sqlglot import exp

    names = (
        "Alter",
        "Attach",
        "Command",
        "Copy",
        "Create",
        "Delete",
        "Describe",
        "Detach",
        "Drop",
        "Insert",
        "Install",
        "Merge",
        "Pragma",
        "Set",
        "TruncateTable",
        "Update",
        "Use",
    )
    return tuple(getattr(exp, n) for n in names if hasattr(exp, n))

"""sqlglot tree pieces that every dialect writes alike: quoted identifiers, columns, microsecond
intervals, and the internal column name of a row's created time.

>>> col("ts", "e").sql(dialect="spark")
'`e`.`ts`'
"""

from __future__ import annotations

from datetime import timedelta

from sqlglot import exp

CREATED = "__created"  # a row's created time, beside ``TS`` (renderer.py)


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def interval_us(delta: timedelta) -> exp.Interval:
    micros = delta // timedelta(microseconds=1)
    return exp.Interval(this=exp.Literal.string(str(micros)), unit=exp.Var(this="MICROSECOND"))

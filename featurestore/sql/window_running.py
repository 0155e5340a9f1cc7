"""Running totals for the training-set sweep (``sql/window.py``): count, sum and mean over ``(t - w, t]``
as the difference of a key's running totals read at ``t`` and at ``t - w``.

That difference is only as good as the totals. Counts, integer and boolean sums (BIGINT / HUGEINT) and
DECIMAL sums (DECIMAL(38)) are exact. A float running total is not: it rounds relative to everything the
key ever summed, so one 3.38e12 long ago turned a later window's -2.51 into -2.509765625. Float columns
are therefore summed as integers:

* per key, ``sc`` finds a power of two ``2^k`` that makes every value of the column an integer: a double
  is a 53-bit integer times ``2^(e - 52)``, so ``k = 53 - min(e)`` over its non-zero values (``e`` from
  ``floor(log2(|x|))``, which can come out one too high, hence 53 and not 52);
* the running totals of ``x * 2^k`` are HUGEINT, exact; a window's total is rounded to a double once and
  divided by ``2^k`` (exact): the result is the exact sum of the window's values, correctly rounded.

The totals must stay below ``2^126``: a key whose non-zero values span more than about ``2^(72 - log2 n)``
(n its number of values), or that holds an infinity or a NaN, keeps NULL totals, and ``sql/window.py``
sums its windows with range frames instead (``fsum``, compensated, over the window's own values only).
Either way the error is relative to the window's values, whatever the key's history and whatever other
entity rows share the request.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlglot import exp

from featurestore.plan.window import WindowAggregate, WindowedValue
from featurestore.sql.duckdb import ENTITY_TS, ROW_ID, col, ident, interval_us, time_names

EDGE = "__edge"
INEXACT_TYPES = frozenset({"double", "float", "halffloat"})  # binary floats; decimal sums are exact
TOTAL_BITS = 126  # HUGEINT holds 2^127 - 1; one bit of margin
ONE_US = timedelta(microseconds=1)
MAX_EXPONENT = 1000  # 2^k must be a finite double (keys of subnormal values take the frames)


def table(name: str, alias: str | None = None) -> exp.Table:
    return exp.Table(this=ident(name), alias=exp.TableAlias(this=ident(alias)) if alias else None)


def keys_equal(keys: tuple[str, ...], left: str, right: str) -> list[exp.Expr]:
    return [exp.EQ(this=col(k, left), expression=col(k, right)) for k in keys]


def summand(a: WindowedValue, column: exp.Expr) -> exp.Expr:
    """What sum and mean add up: booleans as 0/1."""
    return exp.cast(column, "INTEGER") if a.column_type == "bool" else column


def inexact(a: WindowedValue) -> bool:
    """Does ``a`` add up binary floats (whose totals round)?"""
    return a.column_type in INEXACT_TYPES


def plain_sum(a: WindowedValue, column: exp.Expr) -> exp.Expr:
    """A sum of ``a``'s column as one aggregate (GROUP BY, range join, frames): compensated (``fsum``)
    for floats, so the error stays relative to the values summed however many there are; exact for
    integers, booleans and decimals."""
    if inexact(a):
        return _fn("fsum", exp.cast(column, "DOUBLE"))
    return exp.Sum(this=summand(a, column))


def plain_mean(a: WindowedValue, column: exp.Expr) -> exp.Expr:
    """A mean of ``a``'s column as one aggregate (see ``plain_sum``)."""
    if inexact(a):
        return _fn("favg", exp.cast(column, "DOUBLE"))
    return exp.Avg(this=summand(a, column))


def totals_sum(a: WindowedValue) -> bool:
    """Does ``a``'s function read the running sum of its column (a state part ``s``, as sum and mean),
    besides the running count every running function reads?"""
    return "s" in a.fn.parts


def scaled_columns(running: list[WindowedValue]) -> list[str]:
    """The float columns whose running sums are read, in first-use order: their totals are scaled."""
    return list(dict.fromkeys(a.column for a in running if totals_sum(a) and inexact(a)))


def _windows(running: list[WindowedValue]) -> list[timedelta]:
    return sorted({a.window for a in running if a.window is not None})


def _number(value: int) -> exp.Expr:
    return exp.Literal.number(value)


def _pow2(exponent: exp.Expr) -> exp.Expr:
    return exp.Pow(this=exp.Literal.number("2.0"), expression=exponent)


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _scale_cte(node: WindowAggregate, scaled: list[str]) -> exp.Select:
    """``sc``: per key, ``__scale<i>`` for each scaled column: the exponent ``k``, or NULL when the key's
    totals of that column cannot be exact in HUGEINT (then the frames sum its windows)."""
    keys = [col(k) for k in node.keys]
    stats: list[exp.Expr] = []
    scales: list[exp.Expr] = []
    for i, column in enumerate(scaled):
        x = exp.cast(col(column), "DOUBLE")
        finite = _fn("isfinite", x.copy())
        # A DOUBLE: log2 of 0, inf or NaN is not an integer (the FILTER drops those rows afterwards).
        exponent = exp.Floor(this=_fn("log2", exp.Abs(this=x.copy())))
        nonzero = exp.Where(this=exp.and_(exp.NEQ(this=x.copy(), expression=_number(0)), finite.copy()))
        infinite = exp.Where(this=exp.Not(this=finite))
        parts = {
            "lo": exp.Filter(this=exp.Min(this=exponent), expression=nonzero),
            "hi": exp.Filter(this=exp.Max(this=exponent.copy()), expression=nonzero.copy()),
            "c": exp.Count(this=x.copy()),
            "bad": exp.Filter(this=exp.Count(this=exp.Star()), expression=infinite),
        }
        stats += [exp.alias_(value, f"__{part}{i}", quoted=True) for part, value in parts.items()]
        lo, hi, count, bad = (col(f"__{part}{i}") for part in ("lo", "hi", "c", "bad"))
        k = exp.Sub(this=_number(53), expression=lo)
        # Every |x * 2^k| < 2^(hi + 1 + k), so the n values (and any window's total) stay below
        # 2^(hi - lo + 54 + ceil(log2(n + 1))).
        count_bits = exp.cast(
            exp.Ceil(this=_fn("log2", exp.Add(this=count, expression=_number(1)))), "INTEGER"
        )
        span = exp.Add(this=exp.Sub(this=hi, expression=lo.copy()), expression=_number(54))
        fits = exp.or_(
            exp.Is(this=lo.copy(), expression=exp.null()),  # only zeros and nulls: k = 0
            exp.and_(
                exp.LTE(this=exp.Add(this=span, expression=count_bits), expression=_number(TOTAL_BITS)),
                exp.LTE(this=k.copy(), expression=_number(MAX_EXPONENT)),
            ),
        )
        exact = exp.and_(exp.EQ(this=bad, expression=_number(0)), exp.Paren(this=fits))
        chosen = exp.Case(ifs=[exp.If(this=exact, true=exp.Coalesce(this=k, expressions=[_number(0)]))])
        scales.append(exp.alias_(chosen, f"__scale{i}", quoted=True))
    grouped = exp.select(*keys, *stats).from_(table("ev")).group_by(*[k.copy() for k in keys])
    return exp.select(*[k.copy() for k in keys], *scales).from_(
        exp.Subquery(this=grouped, alias=exp.TableAlias(this=ident("g")))
    )


def running_ctes(node: WindowAggregate, running: list[WindowedValue]) -> list[tuple[str, exp.Expr]]:
    """``sc`` (scaled columns only, see the module docstring); ``cum``: per event, the running non-null
    count and sum of each column up to its timestamp rounded up to the microsecond (``time_names``: a
    RANGE frame, so events tied on that time share their totals); ``rr``: probes at t (edge 0) and
    t - w (edge i), each ASOF-joined to the totals at the latest event at or before it; ``rp``: one row
    per entity row, the totals of every edge side by side (and each scaled column's exponent, read at
    edge 0)."""
    windows = _windows(running)
    columns = list(dict.fromkeys(a.column for a in running))
    summed = {a.column: a for a in running if totals_sum(a)}
    scaled = scaled_columns(running)
    ctes: list[tuple[str, exp.Expr]] = []
    ts = time_names(node.scan).ts_up

    def running_total(agg: exp.Expr) -> exp.Window:
        keys = [col(k) for k in node.keys]
        return exp.Window(
            this=agg, partition_by=keys, order=exp.Order(expressions=[exp.Ordered(this=col(ts))])
        )

    totals: list[exp.Expr] = [*[col(k) for k in node.keys], col(ts)]
    carried: list[str] = []  # per-event columns read at the probes besides the totals
    for j, column in enumerate(columns):
        totals.append(exp.alias_(running_total(exp.Count(this=col(column))), f"__n{j}", quoted=True))
        if column not in summed:
            continue
        added = summand(summed[column], col(column))
        if column in scaled:
            k = col(f"__scale{scaled.index(column)}")
            added = exp.cast(exp.Mul(this=exp.cast(added, "DOUBLE"), expression=_pow2(k)), "HUGEINT")
            totals.append(exp.alias_(k.copy(), f"__k{j}", quoted=True))
            carried.append(f"__k{j}")
        totals.append(exp.alias_(running_total(exp.Sum(this=added)), f"__s{j}", quoted=True))
    cum = exp.select(*totals).from_(table("ev"))
    if scaled:
        ctes.append(("sc", _scale_cte(node, scaled)))
        cum = cum.join(table("sc"), using=[ident(k) for k in node.keys])
    at_t: exp.Expr = col(ENTITY_TS)
    if node.scan.exclude_current_time:  # the totals before t: events at t left out (microsecond times)
        at_t = exp.alias_(exp.Sub(this=at_t, expression=interval_us(ONE_US)), ENTITY_TS, quoted=True)
    probes = [
        exp.select(*[col(k) for k in node.keys], at_t, col(ROW_ID),
                   exp.alias_(_number(0), EDGE, quoted=True)).from_(table("ent"))
    ]  # fmt: skip
    for i, window in enumerate(windows, 1):
        edge = exp.Sub(this=col(ENTITY_TS), expression=interval_us(window))
        probes.append(
            exp.select(*[col(k) for k in node.keys], exp.alias_(edge, ENTITY_TS, quoted=True), col(ROW_ID),
                       exp.alias_(_number(i), EDGE, quoted=True)).from_(table("ent"))
        )  # fmt: skip
    at_edges: exp.Query = probes[0]
    for probe in probes[1:]:
        at_edges = exp.union(at_edges, probe, distinct=False)
    names = [n for j, c in enumerate(columns) for n in [f"__n{j}", *([f"__s{j}"] if c in summed else [])]]
    before = exp.GTE(this=col(ENTITY_TS, "p"), expression=col(ts, "v"))
    on = exp.and_(*keys_equal(node.keys, "p", "v"), before)
    rr = (
        exp.select(col(ROW_ID, "p"), col(EDGE, "p"), *[col(n, "v") for n in [*names, *carried]])
        .from_(exp.Subquery(this=at_edges, alias=exp.TableAlias(this=ident("p"))))
        .join(table("cum", "v"), on=on, join_type="ASOF LEFT")
    )

    def at_edge(name: str, i: int) -> exp.Expr:
        at = exp.Where(this=exp.EQ(this=col(EDGE), expression=_number(i)))
        return exp.alias_(exp.Filter(this=exp.Max(this=col(name)), expression=at), f"{name}_{i}", quoted=True)

    pivot: list[exp.Expr] = [col(ROW_ID)]
    pivot += [at_edge(name, i) for name in names for i in range(len(windows) + 1)]
    pivot += [at_edge(name, 0) for name in carried]
    rp = exp.select(*pivot).from_(table("rr")).group_by(col(ROW_ID))
    return [*ctes, ("cum", cum), ("rr", rr), ("rp", rp)]


def running_outputs(running: list[WindowedValue], fallback: dict[str, exp.Expr]) -> dict[str, exp.Expr]:
    """Each running aggregate's value from ``rp``; ``fallback`` maps the output of a scaled sum or mean
    to its range-frame sum, used where the key's totals are NULL (``fallback_sums``)."""
    windows = _windows(running)
    columns = list(dict.fromkeys(a.column for a in running))
    scaled = scaled_columns(running)
    zero = _number(0)
    outputs: dict[str, exp.Expr] = {}
    for a in running:
        j = columns.index(a.column)
        edge = None if a.window is None else windows.index(a.window) + 1

        def between(name: str, edge: int | None = edge) -> exp.Expr:
            at_t = col(f"{name}_0", "rp")
            if edge is None:
                return at_t
            before = exp.Coalesce(this=col(f"{name}_{edge}", "rp"), expressions=[zero])
            return exp.Paren(this=exp.Sub(this=at_t, expression=before))

        count = between(f"__n{j}")
        total: exp.Expr | None = None
        if totals_sum(a):
            total = between(f"__s{j}")
            if a.column in scaled:  # exact integer total / 2^k, rounded once; NULL for a key on the frames
                total = exp.Div(this=exp.cast(total, "DOUBLE"), expression=_pow2(col(f"__k{j}_0", "rp")))
                total = exp.Coalesce(this=total, expressions=[fallback[a.output]])
        outputs[a.output] = a.fn.from_totals(count, total)
    return outputs


def fallback_sums(running: list[WindowedValue]) -> list[WindowedValue]:
    """The sums the range frames compute for keys whose scaled totals are NULL: one per scaled running
    sum (a mean divides it by the exact count)."""
    scaled = scaled_columns(running)
    return [replace(a, function="sum") for a in running if totals_sum(a) and a.column in scaled]


def fallback_keys(node: WindowAggregate, running: list[WindowedValue]) -> exp.Select:
    """``fk``: the keys with a NULL exponent for some scaled column."""
    scaled = scaled_columns(running)
    missing = [exp.Is(this=col(f"__scale{i}"), expression=exp.null()) for i in range(len(scaled))]
    return exp.select(*[col(k) for k in node.keys]).from_(table("sc")).where(exp.or_(*missing))

"""The rules to evaluate and how their numbers become violations: the part both evaluators share.

A view's checks become ``Rule``s; the rules ask for ``Measure``s (``sql/check_queries.py``: the row
count, null counts, values outside bounds, ...), which an evaluator computes in one pass (in the engine,
``engine.py``; over an Arrow table, ``arrow.py``). ``judge`` turns the measured numbers into violations
and says which rules need their offending rows; ``finish`` adds those rows. Both evaluators call these,
so they agree by construction on everything but how they count.

    >>> from featurestore.dsl.checks import Between, RowCount
    >>> rules = (Rule("v", None, RowCount(min=3), ""), Rule("v", "x", Between(0, 1), "float64"))
    >>> plan = measure_plan(rules)
    >>> [m.kind for m in plan.measures]
    ['rows', 'outside', 'min', 'max']
    >>> found = judge(plan, {"m0": 2, "m1": 1, "m2": 0.5, "m3": 1.5}, end=None)
    >>> [(j.rule.check.text, j.observed, j.rows) for j in found]
    [('RowCount(min=3)', '2 rows', 0), ('Between(0, 1)', 'max 1.5', 1)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from featurestore.dsl.checks import AllowedValues, Between, Check, Freshness, MaxDrift, NotNull, RowCount
from featurestore.registry.model import RegisteredView
from featurestore.sql.measures import Measure
from featurestore.validation.report import MAX_KEYS, ValidationReport, Violation

_FLOATS = frozenset({"float32", "float64"})


@dataclass(frozen=True)
class Rule:
    """One declared check of one view (``feature`` None: a view's check), with the feature's dtype."""

    view: str
    feature: str | None
    check: Check
    dtype: str


def rules_of(
    rv: RegisteredView, *, features: Sequence[str] | None = None, view_checks: bool = True
) -> tuple[Rule, ...]:
    """The rules validation evaluates for a view: its view checks (unless ``view_checks=False``) and its
    features' checks (of ``features`` only, when given). ``MaxDrift`` is left to the drift command."""
    view = rv.view
    out = [Rule(view.name, None, c, "") for c in view.checks] if view_checks else []
    for f in view.features:
        if features is not None and f.name not in features:
            continue
        out.extend(Rule(view.name, f.name, c, f.dtype) for c in f.checks if not isinstance(c, MaxDrift))
    return tuple(out)


@dataclass(frozen=True)
class MeasurePlan:
    """The measures the rules need (each once), and by rule, the names of the measures it reads."""

    rules: tuple[Rule, ...]
    measures: tuple[Measure, ...]
    reads: tuple[dict[str, str], ...]
    """Per rule (same order): role (``n``, ``newest``, ``count``, ``min``, ``max``) -> measure name."""


def measure_plan(rules: tuple[Rule, ...]) -> MeasurePlan:
    """The measures of ``rules``, named ``m0``, ``m1``, ... in the order first needed."""
    named: dict[tuple[Any, ...], Measure] = {}

    def need(kind: Any, rule: Rule | None = None, **extra: Any) -> str:
        column = None if rule is None else rule.feature
        is_float = rule is not None and rule.dtype in _FLOATS
        key = (kind, column, tuple(sorted(extra.items())))
        if key not in named:
            named[key] = Measure(f"m{len(named)}", kind, column, is_float, **extra)
        return named[key].name

    reads: list[dict[str, str]] = []
    for rule in rules:
        check = rule.check
        if isinstance(check, RowCount):
            reads.append({"n": need("rows")})
        elif isinstance(check, Freshness):
            reads.append({"newest": need("newest")})
        elif isinstance(check, NotNull):
            reads.append({"n": need("rows"), "count": need("nulls", rule)})
        elif isinstance(check, Between):
            reads.append(
                {
                    "count": need("outside", rule, low=check.min, high=check.max),
                    "min": need("min", rule),
                    "max": need("max", rule),
                }
            )
        elif isinstance(check, AllowedValues):
            reads.append({"count": need("not_allowed", rule, values=check.values)})
        else:
            raise TypeError(f"no evaluation for {check.text}")
    return MeasurePlan(rules, tuple(named.values()), tuple(reads))


@dataclass(frozen=True)
class Judged:
    """A broken rule before its offending rows are read: ``offenders`` is the measure selecting them
    (None for a view's rule)."""

    rule: Rule
    observed: str
    rows: int
    offenders: Measure | None = None


def judge(plan: MeasurePlan, values: Mapping[str, Any], end: datetime | None) -> list[Judged]:
    """The broken rules, given each measure's value (``end``: the time Freshness measures age from)."""
    by_name = {m.name: m for m in plan.measures}
    found: list[Judged] = []
    for rule, reads in zip(plan.rules, plan.reads, strict=True):
        check = rule.check
        got = {role: values.get(name) for role, name in reads.items()}
        if isinstance(check, RowCount):
            n = int(got["n"] or 0)
            if n < check.min or (check.max is not None and n > check.max):
                found.append(Judged(rule, f"{n:,} row{'' if n == 1 else 's'}", 0))
        elif isinstance(check, Freshness):
            newest = naive_utc(got["newest"])
            if newest is None:
                found.append(Judged(rule, "no events", 0))
            elif end is not None and end - newest > check.max_age:
                age = describe_age(end - newest)
                found.append(Judged(rule, f"newest event {newest:%Y-%m-%d %H:%M} ({age} before end)", 0))
        else:
            count = int(got["count"] or 0)
            offenders = by_name[reads["count"]]
            if isinstance(check, NotNull):
                n = int(got["n"] or 0)
                fraction = count / n if n else 0.0
                if fraction > check.max_fraction:
                    found.append(Judged(rule, f"null fraction {fraction:.3g}", count, offenders))
            elif count:
                observed = ""
                if isinstance(check, Between):
                    low, high = got["min"], got["max"]
                    parts = []
                    if check.min is not None and low is not None and low < check.min:
                        parts.append(f"min {show_number(low)}")
                    if check.max is not None and high is not None and high > check.max:
                        parts.append(f"max {show_number(high)}")
                    observed = ", ".join(parts)
                else:
                    observed = f"{count:,} value{'' if count == 1 else 's'} not allowed"
                found.append(Judged(rule, observed, count, offenders))
    return found


def finish(judged: Judged, rows: list[dict[str, Any]], keys: Sequence[str]) -> Violation:
    """The violation of a broken rule, with its first offending rows (keys, and the checked column)."""
    rule = judged.rule
    observed = judged.observed
    if isinstance(rule.check, AllowedValues) and rows and rule.feature is not None:
        seen = list(dict.fromkeys(row[rule.feature] for row in rows))
        observed += ": " + ", ".join(repr(v) for v in seen)
    distinct = {tuple(row[k] for k in keys): None for row in rows[:MAX_KEYS]}  # rows may share keys
    offending = tuple(dict(zip(keys, key, strict=True)) for key in distinct)
    return Violation(
        rule.check.text, rule.check.severity, rule.view, rule.feature, observed, judged.rows, offending
    )


def report_of(plan: MeasurePlan, violations: list[Violation]) -> ValidationReport:
    return ValidationReport(tuple(violations), rules_checked=len(plan.rules))


def naive_utc(value: Any) -> datetime | None:
    """A time as naive UTC (aware times converted; naive ones are UTC already)."""
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value  # type: ignore[no-any-return]


def describe_age(delta: timedelta) -> str:
    """A duration for people, to the minute.

    >>> describe_age(timedelta(days=2, hours=3)), describe_age(timedelta(minutes=61, seconds=5))
    ('2 days 3 h', '1 h 1 min')
    """
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} day{'' if days == 1 else 's'}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins or not parts else []
    return " ".join(parts)


def show_number(value: Any) -> str:
    """A measured number for people: integers as they are, floats to six significant digits.

    >>> show_number(17), show_number(1.7), show_number(0.1 + 0.2)
    ('17', '1.7', '0.3')
    """
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)

"""What a validation found: ``Violation``s of the declared rules, gathered in a ``ValidationReport``.

>>> v = Violation("Between(0, 1)", "error", "driver_stats", "conv_rate", "max 1.7", 2, ({"driver_id": 7},))
>>> report = ValidationReport((v,), rules_checked=3)
>>> report.ok, len(report.errors), report.lines()[0]
(False, 1, 'error driver_stats:conv_rate Between(0, 1): max 1.7 (2 rows; driver_id=7)')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warn"]
MAX_KEYS = 5
"""How many offending entity keys a violation names."""


@dataclass(frozen=True)
class Violation:
    """One rule that the rows broke.

    ``rule``: the rule as written (``Between(0, 1)``); ``feature``: None for a view's rule (Freshness,
    RowCount); ``observed``: what was seen (``max 1.7``, ``null fraction 0.034``, ``12 rows``); ``rows``:
    how many rows broke it (0 for a view's rule); ``keys``: up to five offending rows' join keys, in key
    order.
    """

    rule: str
    severity: Severity
    view: str
    feature: str | None
    observed: str
    rows: int = 0
    keys: tuple[Mapping[str, Any], ...] = ()

    @property
    def target(self) -> str:
        """``view:feature``, or the view's name for a view's rule."""
        return self.view if self.feature is None else f"{self.view}:{self.feature}"

    def keys_text(self) -> str:
        """The offending keys as ``k=v`` (composite keys joined with ``,``), separated by ``; ``."""
        return "; ".join(",".join(f"{k}={v}" for k, v in key.items()) for key in self.keys)

    def line(self) -> str:
        where = f" ({self.rows:,} row{'' if self.rows == 1 else 's'}" if self.rows else ""
        keys = self.keys_text()
        if where:
            where += f"; {keys})" if keys else ")"
        return f"{self.severity} {self.target} {self.rule}: {self.observed}{where}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "view": self.view,
            "feature": self.feature,
            "observed": self.observed,
            "rows": self.rows,
            "keys": [dict(k) for k in self.keys],
        }


@dataclass(frozen=True)
class ValidationReport:
    """Every violation of one validation, and how many rules were checked. ``ok``: no error-severity
    violation (warnings allowed)."""

    violations: tuple[Violation, ...] = ()
    rules_checked: int = 0

    @property
    def errors(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "error")

    @property
    def warnings(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "warn")

    @property
    def ok(self) -> bool:
        return not self.errors

    @classmethod
    def combine(cls, reports: Iterable[ValidationReport]) -> ValidationReport:
        """One report of several (views validated one after the other).

        >>> ValidationReport.combine([ValidationReport(rules_checked=2), ValidationReport(rules_checked=1)])
        ValidationReport(violations=(), rules_checked=3)
        """
        violations: list[Violation] = []
        checked = 0
        for report in reports:
            violations.extend(report.violations)
            checked += report.rules_checked
        return cls(tuple(violations), checked)

    def lines(self) -> list[str]:
        """For people: one line per violation, then a summary line."""
        out = [v.line() for v in self.violations]
        rules = f"{self.rules_checked} rule{'' if self.rules_checked == 1 else 's'} checked"
        out.append(f"{rules}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rules_checked": self.rules_checked,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "violations": [v.as_dict() for v in self.violations],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), default=str)

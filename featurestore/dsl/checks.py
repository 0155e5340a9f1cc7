"""Validation rules declared with the definitions: feature checks and view checks.

Feature checks go in ``Feature(..., checks=[...])`` (or ``Aggregation(..., checks=[...])``): ``Between``,
``NotNull``, ``AllowedValues``, ``MaxDrift``. View checks go in ``FeatureView(..., checks=[...])``:
``Freshness`` and ``RowCount``. Each has ``severity="error"`` (the default: a violation stops the write)
or ``"warn"`` (the write goes on, the violation is reported). ``MaxDrift`` is not validated: it holds the
drift thresholds the drift command reads. Checks are metadata: adding one never moves a view's online
version. The rules are evaluated by ``featurestore/validation/``.

    >>> Between(0, 1).text, NotNull(max_fraction=0.01).text, AllowedValues(["a", "b"]).text
    ('Between(0, 1)', 'NotNull(max_fraction=0.01)', "AllowedValues(['a', 'b'])")
    >>> Freshness(max_age=timedelta(hours=2), severity="warn").text
    'Freshness(max_age=2h)'
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from featurestore.dsl.base import ModelType
from featurestore.errors import DefinitionError

Severity = Literal["error", "warn"]
_NUMBER_DTYPES = frozenset({"int32", "int64", "float32", "float64"})
_INTEGER_DTYPES = frozenset({"int32", "int64"})


class Check(BaseModel, metaclass=ModelType):
    """The base of every check: frozen, with a severity; ``kind`` tells them apart in the registry.

    README: "Validation rules" (``MaxDrift``: "Drift").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    severity: Severity = "error"

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            from featurestore.dsl.base import caller_location

            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: "
                + str(e["msg"]).removeprefix("Value error, ")
                for e in exc.errors()
            )
            where = caller_location()
            at = f" ({where})" if where else ""
            raise DefinitionError(f"{type(self).__name__}{at} is invalid: {problems}") from None

    @property
    def text(self) -> str:
        """The rule as written, for reports and diffs (``Between(0, 1)``)."""
        raise NotImplementedError

    def fits(self, dtype: str) -> str | None:
        """Why this check does not fit a feature of ``dtype`` (with the fix); None when it does."""
        return None


def _duration(delta: timedelta) -> str:
    """A duration in its largest whole unit (as the CLI's durations are written).

    >>> _duration(timedelta(days=2)), _duration(timedelta(minutes=90)), _duration(timedelta(seconds=1.5))
    ('2d', '90m', '1500ms')
    """
    micros = delta // timedelta(microseconds=1)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros // 1000}ms" if micros % 1000 == 0 else f"{micros}us"


def _number(value: float | None) -> str:
    return "None" if value is None else repr(value)


class Between(Check):
    """Every non-null value of a number feature lies in ``[min, max]`` (inclusive; NaN counts as null).

    >>> Between(max=1).text
    'Between(max=1)'

    README: "Validation rules".
    """

    kind: Literal["between"] = "between"
    min: int | float | None = None
    max: int | float | None = None

    def __init__(self, min: float | None = None, max: float | None = None, /, **data: Any) -> None:
        data.setdefault("min", min)
        data.setdefault("max", max)
        super().__init__(**data)

    @model_validator(mode="after")
    def _bounds(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both: Between(0, 1), Between(min=0), Between(max=1)")
        for name, value in (("min", self.min), ("max", self.max)):
            if isinstance(value, bool) or (value is not None and not math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}; swap them")
        return self

    @property
    def text(self) -> str:
        if self.min is not None and self.max is not None:
            return f"Between({_number(self.min)}, {_number(self.max)})"
        side = "min" if self.min is not None else "max"
        return f"Between({side}={_number(self.min if side == 'min' else self.max)})"

    def fits(self, dtype: str) -> str | None:
        if dtype in _NUMBER_DTYPES:
            return None
        fix = (
            "; on a timestamp feature, check the view's newest event with Freshness"
            if dtype == "timestamp"
            else ""
        )
        numbers = "int32, int64, float32, float64"
        return f"{self.text} needs a number feature ({numbers}), not {dtype}: remove it{fix}"


class NotNull(Check):
    """At most ``max_fraction`` of the values are null (or NaN); the default 0.0 allows none.

    >>> NotNull().text
    'NotNull()'

    README: "Validation rules".
    """

    kind: Literal["not_null"] = "not_null"
    max_fraction: float = 0.0

    @model_validator(mode="after")
    def _fraction(self) -> NotNull:
        if not 0.0 <= self.max_fraction < 1.0:
            raise ValueError(f"max_fraction must be in [0, 1), got {self.max_fraction}")
        return self

    @property
    def text(self) -> str:
        return "NotNull()" if self.max_fraction == 0 else f"NotNull(max_fraction={self.max_fraction!r})"


class AllowedValues(Check):
    """Every non-null value is one of ``values`` (strings, integers or booleans, as the feature's dtype).

    >>> AllowedValues([True]).text
    'AllowedValues([True])'

    README: "Validation rules".
    """

    kind: Literal["allowed_values"] = "allowed_values"
    values: tuple[Annotated[bool, Field(strict=True)] | Annotated[int, Field(strict=True)] | str, ...]

    def __init__(self, values: Any = None, /, **data: Any) -> None:
        if values is not None:
            data.setdefault("values", values)
        super().__init__(**data)

    @model_validator(mode="after")
    def _values(self) -> AllowedValues:
        if not self.values:
            raise ValueError("values must name at least one allowed value")
        kinds = {type(v) for v in self.values}
        if len(kinds) > 1:
            raise ValueError(f"values mix {sorted(k.__name__ for k in kinds)}: give values of one type")
        return self

    @property
    def text(self) -> str:
        return f"AllowedValues({list(self.values)!r})"

    def fits(self, dtype: str) -> str | None:
        want = (
            str
            if dtype == "string"
            else bool
            if dtype == "bool"
            else int
            if dtype in _INTEGER_DTYPES
            else None
        )
        if want is None:
            return f"{self.text} needs a string, integer or bool feature, not {dtype}: remove it"
        if any(type(v) is not want for v in self.values):
            return f"{self.text} lists values that are not {dtype}: give {want.__name__} values"
        return None


class MaxDrift(Check):
    """Drift thresholds of one feature (PSI, Kolmogorov-Smirnov, Jensen-Shannon, L-infinity), read by the
    drift command; not evaluated by validation.

    >>> MaxDrift(psi=0.2).text
    'MaxDrift(psi=0.2)'

    README: "Drift".
    """

    kind: Literal["max_drift"] = "max_drift"
    psi: float | None = None
    ks: float | None = None
    js: float | None = None
    linf: float | None = None

    @model_validator(mode="after")
    def _thresholds(self) -> MaxDrift:
        given = {"psi": self.psi, "ks": self.ks, "js": self.js, "linf": self.linf}
        if all(v is None for v in given.values()):
            raise ValueError("give at least one threshold: psi, ks, js or linf")
        if self.psi is not None and not (self.psi > 0 and math.isfinite(self.psi)):
            raise ValueError(f"psi must be above 0, got {self.psi}")
        for name in ("ks", "js", "linf"):
            value = given[name]
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        return self

    @property
    def text(self) -> str:
        parts = [f"{k}={v!r}" for k in ("psi", "ks", "js", "linf") if (v := getattr(self, k)) is not None]
        return f"MaxDrift({', '.join(parts)})"


class Freshness(Check):
    """The newest event of the rows checked is at most ``max_age`` before the run's end time.

    >>> Freshness(timedelta(hours=3), severity="warn").text
    'Freshness(max_age=3h)'

    README: "Validation rules".
    """

    kind: Literal["freshness"] = "freshness"
    max_age: timedelta

    def __init__(self, max_age: timedelta | None = None, /, **data: Any) -> None:
        if max_age is not None:
            data.setdefault("max_age", max_age)
        super().__init__(**data)

    @model_validator(mode="after")
    def _age(self) -> Freshness:
        if self.max_age <= timedelta(0):
            raise ValueError(f"max_age must be positive, got {self.max_age}")
        return self

    @property
    def text(self) -> str:
        return f"Freshness(max_age={_duration(self.max_age)})"


class RowCount(Check):
    """The batch to be written has at least ``min`` and at most ``max`` rows.

    >>> RowCount(min=10, max=100).text
    'RowCount(min=10, max=100)'

    README: "Validation rules".
    """

    kind: Literal["row_count"] = "row_count"
    min: int = 1
    max: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.min < 0:
            raise ValueError(f"min must be 0 or more, got {self.min}")
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max {self.max} is below min {self.min}")
        return self

    @property
    def text(self) -> str:
        return f"RowCount(min={self.min}" + ("" if self.max is None else f", max={self.max}") + ")"


FeatureCheck = Annotated[Between | NotNull | AllowedValues | MaxDrift, Field(discriminator="kind")]
ViewCheck = Annotated[Freshness | RowCount, Field(discriminator="kind")]
FEATURE_CHECKS = (Between, NotNull, AllowedValues, MaxDrift)
VIEW_CHECKS = (Freshness, RowCount)


def only(checks: Any, allowed: tuple[type[Check], ...], where: str, elsewhere: str) -> Any:
    """``checks`` if each is one of ``allowed`` (dicts from the registry pass through); else a ValueError
    saying where the check belongs."""
    if checks is None:
        return ()
    if not isinstance(checks, list | tuple):
        raise ValueError(f"checks must be a list, such as checks=[{allowed[0].__name__}(...)]")
    for check in checks:
        if isinstance(check, dict):
            continue
        if not isinstance(check, allowed):
            name = type(check).__name__
            known = ", ".join(c.__name__ for c in allowed)
            raise ValueError(f"{name} is not a check of {where} (those are {known}); put it in {elsewhere}")
    return tuple(checks)


def checks_text(checks: tuple[Check, ...]) -> str:
    """The checks as one line, for diffs.

    >>> checks_text((Between(0, 1), NotNull(severity="warn")))
    'Between(0, 1), NotNull() warn'
    """
    return ", ".join(c.text + (" warn" if c.severity == "warn" else "") for c in checks)


__all__ = [
    "FEATURE_CHECKS",
    "VIEW_CHECKS",
    "AllowedValues",
    "Between",
    "Check",
    "FeatureCheck",
    "Freshness",
    "MaxDrift",
    "NotNull",
    "RowCount",
    "Severity",
    "ViewCheck",
    "checks_text",
    "only",
]

"""Feature: one named, typed value of a feature view."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from featurestore.dsl.base import ModelType, caller_location, check_identifier
from featurestore.dsl.checks import FEATURE_CHECKS, FeatureCheck, only
from featurestore.dsl.dtypes import DTYPES
from featurestore.errors import DefinitionError


class Feature(BaseModel, metaclass=ModelType):
    """A feature column: ``Feature("conv_rate", "float64")``; ``checks=[Between(0, 1), NotNull()]``
    declares its validation rules (``dsl/checks.py``).

    >>> Feature("trips_today", "int64").dtype
    'int64'

    README: "Quickstart"; the checks: "Validation rules".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind_label: ClassVar[str] = "Feature"

    name: str
    dtype: str
    description: str = ""
    checks: tuple[FeatureCheck, ...] = ()

    def __init__(self, name: str, dtype: str, description: str = "", **extra: Any) -> None:
        try:
            super().__init__(name=name, dtype=dtype, description=description, **extra)
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            where = caller_location()
            at = f" ({where})" if where else ""
            raise DefinitionError(f"Feature {name!r}{at} is invalid: {problems}") from None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier("feature", value)

    @field_validator("checks", mode="before")
    @classmethod
    def _checks(cls, value: Any) -> Any:
        return only(value, FEATURE_CHECKS, "a feature", "FeatureView(..., checks=[...])")

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        if value not in DTYPES:
            import difflib

            close = difflib.get_close_matches(str(value), DTYPES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown dtype {value!r}: {hint}known: {', '.join(DTYPES)}")
        return value

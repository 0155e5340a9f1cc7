"""Entity: the thing features describe, identified by one or more join keys."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from featurestore.dsl.base import Definition, check_identifier


class Entity(Definition):
    """An entity such as a driver or an account.

    >>> Entity(name="driver", join_keys=["driver_id"]).join_keys
    ('driver_id',)

    README: "Quickstart".
    """

    kind_label: ClassVar[str] = "Entity"
    join_keys: tuple[str, ...]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier("entity", value)

    @field_validator("join_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"join_keys must be a list of column names, for example [{value!r}]")
        return value

    @field_validator("join_keys")
    @classmethod
    def _keys_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("an entity needs at least one join key, for example join_keys=['driver_id']")
        for key in value:
            check_identifier("join key", key)
        if len(set(value)) != len(value):
            raise ValueError(f"join keys {list(value)} repeat a name")
        return value

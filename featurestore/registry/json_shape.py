"""Reading a JSON document of our own (the state file) field by field, so a value of the wrong shape is
reported with its place in the file (``views.stats.abc-1: 'status' is missing``), not as a ``KeyError``.

>>> fields = Fields({"pid": "12"}, "writers[0]")
>>> fields.integer("pid")
Traceback (most recent call last):
...
featurestore.registry.json_shape.ShapeError: writers[0]: 'pid' is a string, not a whole number
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_MISSING = object()


class ShapeError(ValueError):
    """A value of the wrong shape, with its place in the document."""


def kind(value: Any) -> str:
    """What a JSON value is, for messages: ``a list``, ``a string``, ``null``, ...

    >>> kind([]), kind(None), kind(1.5)
    ('a list', 'null', 'a number')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def objects(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a JSON object; ``ShapeError`` naming ``where`` otherwise."""
    if not isinstance(value, dict):
        raise ShapeError(f"{where or 'the file'} is {kind(value)}, not an object")
    return value


def items(value: Any, where: str) -> list[Any]:
    """``value`` as a JSON list; ``ShapeError`` naming ``where`` otherwise."""
    if not isinstance(value, list):
        raise ShapeError(f"{where} is {kind(value)}, not a list")
    return value


class Fields:
    """The fields of one JSON object, each read as the type it must have."""

    def __init__(self, value: Any, where: str) -> None:
        self.data = objects(value, where)
        self.where = where

    def _fail(self, problem: str) -> ShapeError:
        return ShapeError(f"{self.where}: {problem}" if self.where else problem)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self._fail(f"{key!r} is missing")
        return default

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self._fail(f"{key!r} is {kind(value)}, not a string")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.raw(key, default if default is not None else _MISSING)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(f"{key!r} is {kind(value)}, not a whole number")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self._fail(f"{key!r} is {kind(value)}, not true or false")
        return value

    def time(self, key: str) -> datetime:
        return self._time(key, self.raw(key))

    def optional_time(self, key: str) -> datetime | None:
        value = self.raw(key, None)
        return None if value is None else self._time(key, value)

    def _time(self, key: str, value: Any) -> datetime:
        if not isinstance(value, str):
            raise self._fail(f"{key!r} is {kind(value)}, not an ISO time")
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise self._fail(f"{key!r} is {value[:40]!r}, not an ISO time") from None

    def child(self, key: str) -> str:
        """The place of a field's value, for the messages of the value's own fields."""
        return f"{self.where}.{key}" if self.where else key

"""The base of every definition: frozen, validated, and aware of the file and line that made it."""

from __future__ import annotations

import os
import re
import sys
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic._internal._model_construction import ModelMetaclass

from featurestore.errors import DefinitionError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def caller_location() -> str | None:
    """The ``file:line`` of the first stack frame outside this package and pydantic."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        absolute = os.path.abspath(filename)
        inside = absolute.startswith(_PACKAGE_DIR + os.sep) and "/tests/" not in absolute
        if not inside and "pydantic" not in filename and not filename.startswith("<frozen"):
            return f"{_relative(absolute)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def check_identifier(kind: str, name: str, *, allow_double_underscore: bool = True) -> str:
    """Reject names that cannot be used as SQL column / table names without quoting surprises.

    >>> check_identifier("feature", "conv_rate")
    'conv_rate'
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        fixed = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
        if fixed and fixed[0].isdigit():
            fixed = "_" + fixed
        raise ValueError(
            f"{kind} name {name!r} is not an identifier: use letters, digits and '_' and do not start "
            f"with a digit (for example {fixed!r})"
        )
    if not allow_double_underscore and "__" in name:
        raise ValueError(
            f"{kind} name {name!r} contains '__', which separates view and feature in full feature "
            f"names ('view__feature'); use a single '_' (for example {name.replace('__', '_')!r})"
        )
    return name


# What every pydantic model has (validation, serialization, deprecated v1 methods): not listed by dir().
_PYDANTIC_NAMES = frozenset(dir(BaseModel)) | {"model_config", "kind_label"}


class ModelType(ModelMetaclass):
    """The type of the definition classes: pydantic's, with ``dir()`` listing the class's own public names.

    ``help(FileSource)`` (pydoc lists what ``dir()`` gives) then shows the definition's docstring, its
    signature and its own methods instead of some 500 lines of pydantic machinery, which stays usable.

    >>> from featurestore import FileSource
    >>> "model_dump" in dir(FileSource), hasattr(FileSource, "model_dump")
    (False, True)
    """

    def __dir__(cls) -> list[str]:
        return sorted(n for n in super().__dir__() if not n.startswith("_") and n not in _PYDANTIC_NAMES)


class Definition(BaseModel, metaclass=ModelType):
    """A frozen definition object. Errors name the object and the file:line that declared it."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=False)
    kind_label: ClassVar[str] = "definition"

    name: str
    description: str = ""
    tags: dict[str, str] = {}
    owner: str = ""
    defined_at: str | None = None

    def __init__(self, /, **data: Any) -> None:
        if data.get("defined_at") is None:
            data["defined_at"] = caller_location()
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise DefinitionError(self._explain(exc, data)) from None

    @classmethod
    def _explain(cls, exc: ValidationError, data: dict[str, Any]) -> str:
        name = data.get("name", "<unnamed>")
        where = f" ({data['defined_at']})" if data.get("defined_at") else ""
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "value"
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{field}: {msg}")
        return f"{cls.kind_label} {name!r}{where} is invalid: " + "; ".join(problems)

    def where(self) -> str:
        """`` (file:line)`` for error messages, or an empty string."""
        return f" ({self.defined_at})" if self.defined_at else ""

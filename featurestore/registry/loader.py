"""Import ``definitions/**/*.py`` and collect every definition object, keeping file:line for errors.

Files and folders whose names start with ``_`` are helpers and are not imported by the loader
(they may still be imported by definition files).

:func:`import_recorded` imports a module of a ``definitions`` package rebuilt in memory from sources
recorded in the registry (``registry/code.py``): nothing is read from disk and ``sys.path`` is untouched.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import linecache
import os
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from featurestore.dsl import (
    Entity,
    FeatureService,
    FeatureView,
    FileSource,
    OnDemandFeatureView,
    SparkSource,
    SqlSource,
)
from featurestore.dsl.base import Definition
from featurestore.errors import DefinitionError, DefinitionLoadError

DEFINITIONS_DIR = "definitions"


@dataclass
class Definitions:
    """Every definition object found under ``definitions/``, by kind and name."""

    entities: dict[str, Entity] = field(default_factory=dict)
    sources: dict[str, FileSource | SqlSource | SparkSource] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    on_demand_views: dict[str, OnDemandFeatureView] = field(default_factory=dict)

    def add(self, obj: Definition) -> None:
        if isinstance(obj, FeatureView):
            for entity in obj.entities:
                self.add(entity)
            self.add(obj.source)
            self._put(self.views, "feature view", obj)
        elif isinstance(obj, FeatureService):
            self._put(self.services, "feature service", obj)
        elif isinstance(obj, OnDemandFeatureView):
            self._put(self.on_demand_views, "on-demand feature view", obj)
        elif isinstance(obj, Entity):
            self._put(self.entities, "entity", obj)
        elif isinstance(obj, FileSource | SqlSource | SparkSource):
            self._put(self.sources, "source", obj)

    @staticmethod
    def _put(table: Any, kind: str, obj: Definition) -> None:
        seen = table.get(obj.name)
        if seen is None or seen is obj:
            table[obj.name] = obj
            return
        if seen == obj:
            return
        raise DefinitionLoadError(
            f"two different {kind}s are named {obj.name!r}: one at {seen.defined_at or '?'}, "
            f"one at {obj.defined_at or '?'}. Rename one of them (names are unique per kind)."
        )

    def check_references(self) -> None:
        """Every view a service uses must be the registered view of that name."""
        for service in self.services.values():
            for projection in service.features:
                view = projection.view
                if isinstance(view, OnDemandFeatureView):
                    self._check_on_demand(service, view)
                    continue
                registered = self.views.get(view.name)
                if registered is None:
                    raise DefinitionLoadError(
                        f"feature service {service.name!r}{service.where()} uses feature view "
                        f"{view.name!r}, which is not defined at module level in {DEFINITIONS_DIR}/. "
                        "Assign the view to a module-level name so it is registered."
                    )
                if registered != view:
                    raise DefinitionLoadError(
                        f"feature service {service.name!r}{service.where()} uses a feature view "
                        f"{view.name!r} that differs from the registered one ({registered.defined_at}). "
                        "Import the view object instead of redefining it."
                    )
        for odfv in self.on_demand_views.values():
            for source in odfv.view_inputs:
                if self.views.get(source.view.name) != source.view:
                    raise DefinitionLoadError(
                        f"on-demand feature view {odfv.name!r}{odfv.where()} reads feature view "
                        f"{source.view.name!r}, which is not the one defined at module level in "
                        f"{DEFINITIONS_DIR}/. Import the registered view object."
                    )

    def _check_on_demand(self, service: FeatureService, view: OnDemandFeatureView) -> None:
        if self.on_demand_views.get(view.name) is not view:
            raise DefinitionLoadError(
                f"feature service {service.name!r}{service.where()} uses on-demand feature view "
                f"{view.name!r}, which is not defined at module level in {DEFINITIONS_DIR}/. "
                "Assign it to a module-level name so it is registered."
            )


def load_definitions(root: Path) -> Definitions:
    """Import every definitions file under ``root/definitions`` and collect its objects."""
    folder = root / DEFINITIONS_DIR
    if not folder.is_dir():
        raise DefinitionLoadError(
            f"{folder} does not exist: a repo needs a {DEFINITIONS_DIR}/ folder of Python files "
            "(run `featurestore init` to create one)"
        )
    files = sorted(_definition_files(folder))
    found = Definitions()
    root_str = str(root.resolve())
    _forget_modules()
    # The import system caches folder listings until the folder's modification time changes: on a file
    # system with coarse timestamps, a file added just after the previous load would not be found.
    importlib.invalidate_caches()
    finder = _DefinitionsFinder()
    sys.meta_path.insert(0, finder)
    sys.path.insert(0, root_str)
    try:
        for path in files:
            module = _import(root, path)
            for value in list(vars(module).values()):
                if isinstance(value, Definition):
                    found.add(value)
    finally:
        sys.path.remove(root_str)
        sys.meta_path.remove(finder)
        _forget_modules()
    found.check_references()
    return found


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a definitions file from its source on every load, never from ``__pycache__``: cached
    bytecode is trusted while the source keeps its size and modification second, so an edit made
    within a second of the previous load (``days=3`` -> ``days=2``) would load the old definitions."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class _DefinitionsFinder(importlib.abc.MetaPathFinder):
    """Finds the ``definitions`` package and its modules where Python would; ``_SourceLoader`` loads them."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != DEFINITIONS_DIR and not fullname.startswith(DEFINITIONS_DIR + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = None if spec is None else spec.loader
        if spec is not None and type(loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _SourceLoader(loader.name, loader.path)
        return spec


def definitions_sources(root: Path) -> dict[str, str]:
    """The text of every Python file under ``root/definitions`` (helpers included), by its path relative
    to ``root`` (``definitions/drivers.py``); empty when there is no such folder."""
    folder = root / DEFINITIONS_DIR
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = Path(dirpath) / name
                out[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return out


_RECORDED_LOCK = threading.Lock()


def import_recorded(sources: Mapping[str, str], module: str, label: str) -> ModuleType:
    """Import ``module`` (``definitions.drivers``) from ``sources`` (as :func:`definitions_sources` gives
    them), with the ``definitions`` modules it imports, all from memory.

    Code objects carry the file name ``<label>/definitions/drivers.py`` (so tracebacks and
    ``inspect.getsource`` work); ``sys.modules`` is restored afterwards (the module stays reachable from
    what it defines). Errors are ``DefinitionLoadError`` naming the recorded file and line.

    >>> sources = {"definitions/a.py": "X = 1", "definitions/b.py": "from definitions.a import X; Y = X + 1"}
    >>> m = import_recorded(sources, "definitions.b", "<registry>")
    >>> m.Y, m.__file__
    (2, '<registry>/definitions/b.py')
    """
    finder = _RecordedFinder(sources, label)
    with _RECORDED_LOCK:
        saved = {m: sys.modules.pop(m) for m in _definitions_modules()}
        sys.meta_path.insert(0, finder)
        try:
            return _import_recorded(finder, module)
        finally:
            sys.meta_path.remove(finder)
            _forget_modules()
            sys.modules.update(saved)


def _import_recorded(finder: _RecordedFinder, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except SyntaxError as exc:
        raise DefinitionLoadError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from exc
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(finder.label)]
        where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
        raise DefinitionLoadError(
            f"{where}importing {module} from the registry's recorded definitions raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc


class _RecordedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads ``definitions`` modules from recorded sources; a folder without ``__init__.py``
    becomes an empty package, as a namespace package would."""

    def __init__(self, sources: Mapping[str, str], label: str) -> None:
        self.sources = dict(sources)
        self.label = label
        self.packages = {
            ".".join(Path(path).parts[:n]) for path in sources for n in range(1, len(Path(path).parts))
        }

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != DEFINITIONS_DIR and not fullname.startswith(DEFINITIONS_DIR + "."):
            return None
        base = fullname.replace(".", "/")
        if fullname in self.packages:
            spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            spec.origin = f"{self.label}/{base}/__init__.py"
            spec.submodule_search_locations = []
        elif f"{base}.py" in self.sources:
            spec = importlib.machinery.ModuleSpec(fullname, self, origin=f"{self.label}/{base}.py")
        else:
            return None
        spec.has_location = True
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        assert spec is not None  # set by find_spec above
        assert spec.origin is not None
        relative = spec.origin.removeprefix(self.label + "/")
        source = self.sources.get(relative, "")
        # inspect.getsource reads linecache; an entry without a modification time is never re-checked
        # against a file (there is none).
        lines = source.splitlines(keepends=True)
        linecache.cache[spec.origin] = (len(source), None, lines, spec.origin)
        exec(compile(source, spec.origin, "exec"), module.__dict__)  # the recorded definitions


def _definitions_modules() -> list[str]:
    return [m for m in sys.modules if m == DEFINITIONS_DIR or m.startswith(DEFINITIONS_DIR + ".")]


def _definition_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        out.extend(Path(dirpath) / f for f in filenames if f.endswith(".py") and not f.startswith("_"))
    return out


def _module_name(root: Path, path: Path) -> str:
    rel = path.resolve().relative_to(root.resolve()).with_suffix("")
    return ".".join(rel.parts)


def _import(root: Path, path: Path) -> object:
    name = _module_name(root, path)
    display = os.path.relpath(path)
    try:
        return importlib.import_module(name)
    except SyntaxError as exc:
        where = f"{display}:{exc.lineno}" if exc.lineno else display
        raise DefinitionLoadError(f"{where}: syntax error: {exc.msg}. Fix the file and retry.") from exc
    except DefinitionError as exc:
        raise DefinitionLoadError(f"{display}: {exc}") from exc
    except SystemExit as exc:
        # Left alone, it would end the whole command silently (with the file's exit code).
        where = _failing_line(exc, path) or display
        raise DefinitionLoadError(
            f"{where}: this definitions file calls sys.exit({'' if exc.code is None else repr(exc.code)}) "
            "while it is imported; remove the call (definitions files only define objects)"
        ) from None
    except Exception as exc:
        where = _failing_line(exc, path) or display
        raise DefinitionLoadError(
            f"{where}: importing this definitions file raised {type(exc).__name__}: {exc}"
        ) from exc


def _failing_line(exc: BaseException, path: Path) -> str | None:
    target = str(path.resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == target:
            line = frame.lineno
    return f"{os.path.relpath(path)}:{line}" if line else None


def _forget_modules() -> None:
    # Definitions of another repo loaded earlier in this process must not shadow this one's.
    for name in _definitions_modules():
        del sys.modules[name]

"""Where on-demand functions come from: recorded at apply, resolved by every process that runs them.

At apply (:func:`record_code`) each on-demand view's function is recorded in the registry by origin:

* a function of an installed package (its module imports without the repo on ``sys.path``): the
  module and the qualified name;
* a function defined in ``definitions/``: the defining module and qualified name, and the text of every
  ``definitions/`` Python file, kept once per registry.

A server or an SDK process then needs no ``definitions/`` folder: :func:`resolve_function` takes the
function from the definitions object when it holds one (just loaded), else by ``[registry]
on_demand_code``:

* ``"registry"``: a function recorded as definitions source is rebuilt in memory from the recorded files
  (``loader.import_recorded``: nothing written, ``sys.path`` untouched); a package function is imported;
* ``"packages"``: only package functions are imported; one recorded as definitions source is refused.

Either way the function found must have the source applied (``function_source``), or it is refused: the
installed package is not the version that was applied. Registries applied before format 3 record no code:
their functions are taken from the repo's ``definitions/`` as before.

Trust model: with ``"registry"``, whoever may write the registry (run ``apply``) may run code in every
server and SDK process that reads it, exactly as whoever edits ``definitions/`` may run code at apply;
give servers read-only access to the registry (a read-only file, or a read-only database role). With
``"packages"``, processes run only code installed with their packages; the registry only selects it.

Failures raise :class:`~featurestore.errors.OnDemandCodeError` (a deployment fault, never the caller's):
``FeatureStore.check_serving()`` and ``featurestore serve`` resolve every function before serving.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import sys
import threading
from pathlib import Path
from typing import Any, Literal

from featurestore.dsl import OnDemandFeatureView
from featurestore.dsl.on_demand import Udf, function_source
from featurestore.errors import DefinitionError, OnDemandCodeError
from featurestore.registry.loader import (
    DEFINITIONS_DIR,
    Definitions,
    definitions_sources,
    import_recorded,
    load_definitions,
)
from featurestore.registry.model import FunctionOrigin, OnDemandCode, Registry

CodeMode = Literal["registry", "packages"]
_FIX_PACKAGES = (
    "move the function into an installed package (then apply again), or set [registry] on_demand_code = "
    '"registry" in featurestore.toml to run the source recorded at apply'
)

_CACHE: dict[tuple[Any, ...], Udf] = {}
_CACHE_LOCK = threading.Lock()


# -- at apply ------------------------------------------------------------------------------------------


def record_code(defs: Definitions, root: Path) -> OnDemandCode | None:
    """Where each on-demand view's function comes from, and the definitions' sources when one is defined
    there; ``None`` without on-demand views."""
    if not defs.on_demand_views:
        return None
    functions = {name: _origin(odfv, root) for name, odfv in sorted(defs.on_demand_views.items())}
    in_definitions = any(f.in_definitions for f in functions.values())
    return OnDemandCode(functions=functions, definitions=definitions_sources(root) if in_definitions else {})


def _origin(odfv: OnDemandFeatureView, root: Path) -> FunctionOrigin:
    udf = odfv.udf
    if udf is None:  # loaded definitions always hold their function
        raise DefinitionError(f"on-demand feature view {odfv.name!r}{odfv.where()} has no function")
    module = getattr(udf, "__module__", None) or ""
    qualname = getattr(udf, "__qualname__", None) or getattr(udf, "__name__", "")
    if module == DEFINITIONS_DIR or module.startswith(DEFINITIONS_DIR + "."):
        return FunctionOrigin(module=module, qualname=qualname, in_definitions=True)
    if not _installed(module, root):
        raise DefinitionError(
            f"on-demand feature view {odfv.name!r}{odfv.where()}: its function {module}.{qualname} comes "
            f"from a module that servers cannot import (it is not in {DEFINITIONS_DIR}/ nor in an installed "
            f"package). Define the function in {DEFINITIONS_DIR}/, or in a package installed where it is "
            "served"
        )
    return FunctionOrigin(module=module, qualname=qualname, in_definitions=False)


def _installed(module: str, root: Path) -> bool:
    """The module imports without the repo on ``sys.path``: its file is outside the repo, or found through
    another entry of ``sys.path`` (a virtual environment or an ``src/`` folder inside the repo) or an
    import hook (an editable install)."""
    if not module or module == "__main__":
        return False
    loaded = sys.modules.get(module)
    file = getattr(loaded, "__file__", None)
    if loaded is None or file is None:
        return False
    path, repo = Path(file).resolve(), root.resolve()
    if not path.is_relative_to(repo):
        return True
    for entry in sys.path:
        base = Path(entry or ".").resolve()
        if base != repo and base.is_relative_to(repo) and path.is_relative_to(base):
            return True
    for finder in sys.meta_path:
        if finder in (importlib.machinery.PathFinder, importlib.machinery.BuiltinImporter):
            continue
        find_spec = getattr(finder, "find_spec", None)
        try:
            spec = find_spec(module, None) if find_spec is not None else None
        except Exception:  # a third-party import hook: not ours to judge
            spec = None
        if spec is not None and spec.origin is not None and Path(spec.origin).resolve() == path:
            return True
    return False


# -- when serving --------------------------------------------------------------------------------------


def resolve_function(odfv: OnDemandFeatureView, registry: Registry, root: Path, mode: CodeMode) -> Udf:
    """The function of ``odfv`` (see the module docstring); ``OnDemandCodeError`` when it cannot be had."""
    if odfv.udf is not None:
        return odfv.udf
    code = registry.on_demand_code
    origin = None if code is None else code.functions.get(odfv.name)
    if code is None or origin is None:
        key: tuple[Any, ...] = ("definitions", str(root), odfv.name, odfv.data_fingerprint())
    else:
        digest = _digest(code.definitions) if origin.in_definitions else ""
        key = ("recorded", mode, odfv.name, odfv.data_fingerprint(), origin, digest)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if code is None or origin is None:
            func = _from_folder(odfv, root)
        elif origin.in_definitions:
            func = _from_recorded(odfv, origin, code, mode)
        else:
            func = _from_package(odfv, origin)
        _CACHE[key] = func
        return func


def check_functions(registry: Registry, root: Path, mode: CodeMode) -> int:
    """Resolve every on-demand view's function of ``registry`` now; the number resolved."""
    for odfv in registry.on_demand_views.values():
        resolve_function(odfv, registry, root, mode)
    return len(registry.on_demand_views)


def _from_folder(odfv: OnDemandFeatureView, root: Path) -> Udf:
    """A registry without recorded code: the function of the repo's ``definitions/`` (as before format 3)."""
    try:
        loaded = load_definitions(root).on_demand_views.get(odfv.name)
    except DefinitionError as exc:
        raise OnDemandCodeError(
            f"on-demand feature view {odfv.name!r}: the registry records no code (it was applied by an "
            f"older featurestore), and {DEFINITIONS_DIR}/ cannot be loaded: {exc}. Run `featurestore apply` "
            "with this version to record the functions in the registry"
        ) from None
    if loaded is None or loaded.udf is None:
        raise OnDemandCodeError(
            f"on-demand feature view {odfv.name!r} is applied but no longer defined in {DEFINITIONS_DIR}/; "
            "run `featurestore apply`"
        )
    if loaded.data_fingerprint() != odfv.data_fingerprint():
        raise OnDemandCodeError(
            f"on-demand feature view {odfv.name!r} ({loaded.defined_at}) changed since it was applied; "
            "run `featurestore apply` so online and offline use the same function"
        )
    return loaded.udf


def _from_recorded(
    odfv: OnDemandFeatureView, origin: FunctionOrigin, code: OnDemandCode, mode: CodeMode
) -> Udf:
    where = f"on-demand feature view {odfv.name!r} ({origin.module}.{origin.qualname})"
    if mode == "packages":
        raise OnDemandCodeError(
            f'{where} is defined in {DEFINITIONS_DIR}/, but [registry] on_demand_code = "packages" runs '
            f"only functions of installed packages: {_FIX_PACKAGES}"
        )
    label = f"<registry {_digest(code.definitions)}>"
    try:
        module = import_recorded(code.definitions, origin.module, label)
    except DefinitionError as exc:
        raise OnDemandCodeError(
            f"{where}: its definitions, recorded in the registry at apply, cannot be imported here: {exc}. "
            "Install what they import (the same packages as where apply ran)"
        ) from None
    return _checked(odfv, _find(odfv, module, origin, where), where, "the registry's recorded definitions")


def _from_package(odfv: OnDemandFeatureView, origin: FunctionOrigin) -> Udf:
    where = f"on-demand feature view {odfv.name!r} ({origin.module}.{origin.qualname})"
    try:
        module = importlib.import_module(origin.module)
    except Exception as exc:
        raise OnDemandCodeError(
            f"{where}: module {origin.module!r} cannot be imported ({type(exc).__name__}: {exc}). Install "
            "the package that holds it, at the version that was applied"
        ) from None
    return _checked(odfv, _find(odfv, module, origin, where), where, f"module {origin.module!r}")


def _find(odfv: OnDemandFeatureView, module: Any, origin: FunctionOrigin, where: str) -> Udf:
    """The function in ``module``: the on-demand view of that name defined there, or the object its
    qualified name reaches (a function, or an on-demand view holding one)."""
    for value in vars(module).values():
        if isinstance(value, OnDemandFeatureView) and value.name == odfv.name and value.udf is not None:
            return value.udf
    found: Any = module
    for part in origin.qualname.split("."):
        found = getattr(found, part, None)
    if isinstance(found, OnDemandFeatureView):
        found = found.udf
    if not callable(found):
        raise OnDemandCodeError(
            f"{where}: module {origin.module!r} holds no function {origin.qualname!r}. Install the version "
            "of the package that was applied, or apply again"
        )
    return found  # type: ignore[no-any-return]


def _checked(odfv: OnDemandFeatureView, func: Udf, where: str, origin: str) -> Udf:
    """``func`` if its source is the one applied; else the error naming the view, the module and the fix."""
    if function_source(func) != odfv.function_source:
        raise OnDemandCodeError(
            f"{where}: the function in {origin} is not the one applied (its source differs): the installed "
            "package is not the version that was applied. Install the applied version, or run "
            "`featurestore apply` with this one"
        )
    return func


def _digest(sources: dict[str, str]) -> str:
    text = "\0".join(f"{path}\0{source}" for path, source in sorted(sources.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]

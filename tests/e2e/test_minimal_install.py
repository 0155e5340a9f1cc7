"""`pip install featurestore` alone (no extras) is enough for everything but `serve`.

Three layers, cheapest first: every import in the package names a declared dependency (static); the
quickstart runs in a Python that cannot import pandas or the server's packages (seconds);
and, marked slow and run by `.ci/run`, real virtualenvs built from the wheel: the core alone runs the
quickstart, the `server` extra serves it.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "featurestore"
# What a core install lacks and a developer's virtualenv has (numpy is core: datasketches needs it).
NOT_IN_CORE = ("pandas", "uvicorn", "orjson", "httptools", "uvloop", "httpx", "fakeredis")


def _name(requirement: str) -> list[str]:
    """``"redis[hiredis]>=5.0"`` -> ``["redis", "hiredis"]``: the distribution and the extras it pulls in."""
    match = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement)
    assert match, requirement
    names = [match.group(1), *(match.group(2) or "").split(",")]
    return [re.sub(r"[-_.]+", "-", n.strip()).lower() for n in names if n.strip()]


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {n for r in project["dependencies"] for n in _name(r)}
    extras = {k: {n for r in v for n in _name(r)} for k, v in project["optional-dependencies"].items()}
    return core, extras


def _imports(path: Path) -> list[tuple[str, int, str]]:
    """(top-level module, line, where) of every absolute import; where is module / lazy / typing."""
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and where == "module":
                inner = "lazy"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = "typing"
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], child.lineno, where) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], child.lineno, where))
            visit(child, inner)

    visit(ast.parse(path.read_text()), "module")
    return found


def test_every_import_of_the_package_is_a_declared_dependency() -> None:
    core, extras = _declared()
    distributions = packages_distributions()
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        in_server = "server" in path.relative_to(PACKAGE).parts
        for module, line, where in _imports(path):
            if module in sys.stdlib_module_names or module == "featurestore":
                continue
            dists = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [module])}
            # The server package is the `server` extra; anything else a core install runs must be core,
            # except names used only in type hints (pandas.DataFrame).
            allowed = core | extras["server"] if in_server else core
            # An engine module may import its own extra (engines/spark.py: the `spark` extra), lazily.
            if path.parent.name == "engines" and path.stem in extras and where == "lazy":
                allowed = core | extras[path.stem]
            # A registry backend likewise (registry/sql_postgres.py: the `postgres` extra).
            backend_extra = path.stem.removeprefix("sql_")
            if path.parent.name == "registry" and backend_extra in extras and where == "lazy":
                allowed = core | extras[backend_extra]
            if where == "typing":
                allowed = core.union(*extras.values())
            if not dists & allowed:
                wrong.append(
                    f"{path.relative_to(ROOT)}:{line}: {where} import of {module} ({', '.join(dists)})"
                )
    assert not wrong, "imports a core install lacks:\n" + "\n".join(wrong)


LAUNCHER = """\
import sys
from importlib.machinery import PathFinder

BLOCKED = set(sys.argv.pop(1).split(","))


class WithoutExtras(PathFinder):
    # Found neither by import nor by importlib.util.find_spec: as in a virtualenv without them.
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.partition(".")[0] in BLOCKED else super().find_spec(name, path, target)


sys.meta_path[:] = [WithoutExtras if finder is PathFinder else finder for finder in sys.meta_path]
script = sys.argv.pop(1)
if script == "-m":
    from featurestore.cli import main

    sys.argv[0] = "featurestore"
    main()
else:
    exec(compile(open(script).read(), script, "exec"), {"__name__": "__main__"})
"""


def _without_extras(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    launcher = tmp_path / "without_extras.py"
    launcher.write_text(LAUNCHER)
    return subprocess.run(
        [sys.executable, str(launcher), ",".join(NOT_IN_CORE), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
    )


def test_the_quickstart_runs_without_pandas_or_the_server_packages(tmp_path: Path) -> None:
    launcher = f"{sys.executable} {tmp_path / 'without_extras.py'} {','.join(NOT_IN_CORE)} -m"
    done = _without_extras(
        tmp_path, str(ROOT / ".ci" / "quickstart.py"), str(tmp_path / "work"), "--featurestore", launcher
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "quickstart ok" in done.stdout


def test_pandas_is_imported_only_when_asked_for(tmp_path: Path) -> None:
    script = tmp_path / "sdk.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import sys
            from pathlib import Path

            from featurestore import FeatureStore
            from featurestore.cli.scaffold import scaffold

            repo = Path({str(tmp_path / "repo")!r})
            scaffold(repo)
            store = FeatureStore(repo)
            store.apply()
            training = store.get_training_set(str(repo / "data/entity_rows.parquet"), "fraud_model_v1")
            assert training.to_arrow().num_rows == 6 and training.to_polars().height == 6
            assert "<table" in training._repr_html_()  # what a notebook shows
            try:
                training.to_pandas()
            except ModuleNotFoundError as exc:
                assert exc.name == "pandas", exc
            else:
                raise AssertionError("to_pandas worked without pandas")
            assert "pandas" not in sys.modules
            print("sdk ok")
            """
        )
    )
    done = _without_extras(tmp_path, str(script))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sdk ok" in done.stdout


def _clean_env() -> dict[str, str]:
    # Nothing of the developer's environment: the virtualenv's own packages only.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _in(python: Path, *args: str, cwd: Path, timeout: float = 1200) -> str:
    done = subprocess.run(
        [str(python), *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _virtualenv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def _wheel(tmp_path: Path) -> Path:
    """The wheel, built from a copy of the files git knows of: a stale build/ or egg-info folder in the
    checkout can neither leak into it nor make pip think featurestore is already installed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    source = tmp_path / "source"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    pip = ("-m", "pip", "--disable-pip-version-check", "--quiet")
    _in(Path(sys.executable), *pip, "wheel", "--no-deps", "--wheel-dir", str(dist), str(source), cwd=tmp_path)
    (wheel,) = dist.glob("featurestore-*.whl")
    return wheel


def _installed(python: Path, cwd: Path) -> set[str]:
    listing = _in(python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check", cwd=cwd)
    return {line.split("==")[0].lower() for line in listing.splitlines()}


@pytest.mark.slow
def test_core_install_runs_the_quickstart_and_the_server_extra_serves_it(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    pip = ("-m", "pip", "--disable-pip-version-check", "--quiet", "install")

    core = _virtualenv(tmp_path / "core")
    _in(core, *pip, str(wheel), cwd=tmp_path)
    installed = _installed(core, tmp_path)
    assert "featurestore" in installed
    assert not installed & {"pandas", "uvicorn", "orjson"}, installed
    print(_in(core, str(ROOT / ".ci" / "quickstart.py"), str(tmp_path / "work"), cwd=tmp_path, timeout=600))

    server = _virtualenv(tmp_path / "server")
    _in(server, *pip, f"{wheel}[server]", cwd=tmp_path)
    installed = _installed(server, tmp_path)
    assert {"featurestore", "uvicorn"} <= installed
    assert "pandas" not in installed
    repo = tmp_path / "work" / "quickstart"
    print(_in(server, str(ROOT / ".ci" / "serve_check.py"), str(repo), cwd=tmp_path, timeout=300))

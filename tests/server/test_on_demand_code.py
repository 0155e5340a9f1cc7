"""Serving without definitions/: on-demand functions come from the registry or from installed packages.

A "deployed" folder holds only ``featurestore.toml``, the applied ``.featurestore/`` (registry, state and the
embedded online store) and the source data (for training sets): no ``definitions/``. Its on-demand
features are computed by the SDK and by a real ``featurestore serve`` process; what cannot be resolved
fails at startup with one line, and a registry applied later that cannot be resolved is not served.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from featurestore import FeatureStore
from featurestore.errors import DefinitionError, OnDemandCodeError
from featurestore.registry.model import FunctionOrigin
from tests.server.conftest import TOKEN, Served, Server, free_port, start_server

ODFV = ["ride_value:fare_per_km", "ride_value:expected_value", "ride_value:busy", "ride_value:trips_bucket"]
REQUEST = {"quoted_fare": [12.0, 30.0], "distance_km": [4.0, 10.0]}
DRIVERS = [1001, 1002]

PACKAGE = '''
"""Request-time functions of an installed package (test fixture)."""

import polars as pl


def fare_per_km(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select((pl.col("quoted_fare") / pl.col("distance_km")).alias("fare_per_km"))
'''

PACKAGED_DEFINITIONS = """
from {package} import fare_per_km

from definitions.drivers import driver_hourly_stats
from featurestore import Feature, RequestSource, on_demand_feature_view

ride_request = RequestSource(
    name="ride_request", fields=[Feature("quoted_fare", "float64"), Feature("distance_km", "float64")]
)
ride_fare = on_demand_feature_view(
    sources=[ride_request, driver_hourly_stats[["conv_rate"]]],
    features=[Feature("fare_per_km", "float64")],
    name="ride_fare",
)(fare_per_km)
"""


def deploy(repo: Path, target: Path, on_demand_code: str | None = None) -> Path:
    """``target``: the repo's applied state, its data and a featurestore.toml; no definitions/."""
    shutil.copytree(
        repo / ".featurestore", target / ".featurestore", ignore=shutil.ignore_patterns("feature_log")
    )
    shutil.copytree(repo / "data", target / "data")
    project = json.loads((repo / ".featurestore" / "registry.json").read_text())["project"]
    toml = f'project = "{project}"\n'
    if on_demand_code is not None:
        toml += f'\n[registry]\non_demand_code = "{on_demand_code}"\n'
    (target / "featurestore.toml").write_text(toml)
    assert not (target / "definitions").exists()
    return target


def replace_registry(source: Path, target: Path) -> None:
    """Copy ``source``'s registry over ``target``'s atomically, as an apply would write it."""
    tmp = target / ".featurestore" / "registry.json.tmp"
    shutil.copyfile(source / ".featurestore" / "registry.json", tmp)
    os.replace(tmp, target / ".featurestore" / "registry.json")


def make_package(folder: Path) -> str:
    name = f"ridepkg_{uuid.uuid4().hex[:8]}"
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(PACKAGE)
    return name


def with_path(folder: Path) -> dict[str, str]:
    """The environment of a process that has ``folder`` on its import path (as an installed package)."""
    current = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(folder) + (os.pathsep + current if current else "")}


def serve_fails(root: Path, env_extra: dict[str, str] | None = None) -> str:
    """Run ``featurestore serve`` expecting it to exit at startup; its stderr."""
    env = {**os.environ, **(env_extra or {})}
    done = subprocess.run(
        [sys.executable, "-m", "featurestore.cli", "--repo", str(root), "serve", "--port", str(free_port())],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr.decode()
    return done.stderr.decode()


def online(server: Server, features: list[str]) -> tuple[int, dict[str, object]]:
    body = {"features": features, "entities": {"driver_id": DRIVERS}, "request_data": REQUEST}
    status, answer, _ = server.request("POST", "/online-features", body)
    return status, answer


# -- the registry's recorded definitions ---------------------------------------------------------------


@pytest.fixture
def deployed(serving_template: Served, tmp_path: Path) -> Path:
    return deploy(serving_template.root, tmp_path / "deployed")


def test_apply_records_the_definitions_sources_once(serving_template: Served) -> None:
    with FeatureStore(serving_template.root) as store:
        code = store.registry.on_demand_code
    assert code is not None
    assert code.functions == {
        "ride_value": FunctionOrigin(module="definitions.serving", qualname="ride_value", in_definitions=True)
    }
    folder = serving_template.root / "definitions"
    assert code.definitions == {f"definitions/{p.name}": p.read_text() for p in sorted(folder.glob("*.py"))}


def test_the_sdk_serves_and_trains_without_definitions(serving_template: Served, deployed: Path) -> None:
    before = {m for m in sys.modules if m.startswith("definitions")}
    rows = pl.DataFrame({"driver_id": DRIVERS, "event_timestamp": [serving_template.at] * 2, **REQUEST})
    with FeatureStore(serving_template.root) as store:
        expected = store.get_online_features(ODFV, {"driver_id": DRIVERS}, request_data=REQUEST).to_dict()
        expected_training = store.get_training_set(rows, ODFV).to_arrow()
    with FeatureStore(deployed) as store:
        assert (
            store.check_serving().project
            == json.loads((deployed / ".featurestore" / "registry.json").read_text())["project"]
        )
        got = store.get_online_features(ODFV, {"driver_id": DRIVERS}, request_data=REQUEST).to_dict()
        training = store.get_training_set(rows, ODFV).to_arrow()
    assert got == expected
    assert got["fare_per_km"] == [3.0, 3.0]
    assert training.equals(expected_training)
    assert training.column("fare_per_km").to_pylist() == [3.0, 3.0]
    # rebuilt in memory: no definitions module of the deployed registry is left behind
    assert {m for m in sys.modules if m.startswith("definitions")} == before


def test_a_server_without_definitions_serves_on_demand_features(
    serving_template: Served, deployed: Path, tmp_path: Path
) -> None:
    server = start_server(deployed, tmp_path)
    try:
        status, answer = online(server, ODFV)
        assert status == 200, answer
        values = answer["values"]
        assert isinstance(values, dict)
        assert values["fare_per_km"] == [3.0, 3.0]
        assert values["trips_bucket"] in (["low", "low"], ["high", "low"], ["low", "high"], ["high", "high"])
        assert server.request("GET", "/ready", token=None)[0] == 200
    finally:
        server.stop()


def test_packages_mode_refuses_a_definitions_function_at_startup(
    serving_template: Served, tmp_path: Path
) -> None:
    target = deploy(serving_template.root, tmp_path / "deployed", on_demand_code="packages")
    with FeatureStore(target) as store, pytest.raises(OnDemandCodeError, match="ride_value") as caught:
        store.check_serving()
    assert 'on_demand_code = "registry"' in str(caught.value)
    assert "installed package" in str(caught.value)
    stderr = serve_fails(target)
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: OnDemandCodeError: on-demand feature view 'ride_value'"), stderr
    assert 'set [registry] on_demand_code = "registry"' in stderr


def test_an_older_registry_without_code_still_loads_definitions(serving_repo: Served, tmp_path: Path) -> None:
    path = serving_repo.root / ".featurestore" / "registry.json"
    document = json.loads(path.read_text())
    del document["on_demand_code"]
    path.write_text(json.dumps({**document, "format": 2}))
    with FeatureStore(serving_repo.root) as store:
        assert store.registry.on_demand_code is None
        got = store.get_online_features(ODFV, {"driver_id": DRIVERS}, request_data=REQUEST)
        assert got.to_dict()["fare_per_km"] == [3.0, 3.0]
    target = deploy(serving_repo.root, tmp_path / "deployed")
    with (
        FeatureStore(target) as store,
        pytest.raises(OnDemandCodeError, match="Run `featurestore apply` with this version"),
    ):
        store.check_serving()


# -- installed packages ---------------------------------------------------------------------------------


@pytest.fixture
def packaged(
    serving_template: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path, str]]:
    """(the repo, the folder of its package, the package's name): ride_fare's function is the package's."""
    packages = tmp_path / "site"
    package = make_package(packages)
    monkeypatch.syspath_prepend(str(packages))
    repo = tmp_path / "repo"
    shutil.copytree(serving_template.root, repo)
    (repo / "definitions" / "serving.py").write_text(PACKAGED_DEFINITIONS.format(package=package))
    with FeatureStore(repo) as store:
        store.apply()
    yield repo, packages, package
    sys.modules.pop(package, None)


def test_packages_mode_serves_a_package_function(packaged: tuple[Path, Path, str], tmp_path: Path) -> None:
    repo, packages, package = packaged
    with FeatureStore(repo) as store:
        code = store.registry.on_demand_code
    assert code is not None
    assert code.functions == {
        "ride_fare": FunctionOrigin(module=package, qualname="fare_per_km", in_definitions=False)
    }
    assert code.definitions == {}  # no function is defined in definitions/: no source kept
    target = deploy(repo, tmp_path / "deployed", on_demand_code="packages")
    server = start_server(target, tmp_path, env_extra=with_path(packages))
    try:
        status, answer = online(server, ["ride_fare:fare_per_km", "driver_hourly_stats:conv_rate"])
        assert status == 200, answer
        values = answer["values"]
        assert isinstance(values, dict)
        assert values["fare_per_km"] == [3.0, 3.0]
    finally:
        server.stop()
    # without the package installed, the same server does not start
    stderr = serve_fails(target)
    assert f"module {package!r} cannot be imported" in stderr
    assert "Install the package" in stderr


def test_a_package_edited_after_apply_fails_at_startup(
    packaged: tuple[Path, Path, str], tmp_path: Path
) -> None:
    repo, packages, package = packaged
    target = deploy(repo, tmp_path / "deployed", on_demand_code="packages")
    init = packages / package / "__init__.py"
    init.write_text(init.read_text().replace('pl.col("distance_km"))', 'pl.col("distance_km") * 2)'))
    stderr = serve_fails(target, with_path(packages))
    assert "on-demand feature view 'ride_fare'" in stderr
    assert f"{package}.fare_per_km" in stderr
    assert "not the version that was applied" in stderr


# -- a registry that changes under a running server -----------------------------------------------------


def test_a_new_registry_that_does_not_resolve_is_not_served(
    serving_template: Served, deployed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = tmp_path / "site"
    package = make_package(packages)
    server = start_server(deployed, tmp_path)
    try:
        assert online(server, ODFV)[0] == 200
        # Apply, from another checkout, an on-demand view whose package the server does not have.
        monkeypatch.syspath_prepend(str(packages))
        repo = tmp_path / "repo"
        shutil.copytree(serving_template.root, repo)
        project = json.loads((deployed / ".featurestore" / "registry.json").read_text())["project"]
        (repo / "featurestore.toml").write_text(f'project = "{project}"\n')
        (repo / "definitions" / "extra.py").write_text(PACKAGED_DEFINITIONS.format(package=package))
        with FeatureStore(repo) as store:
            store.apply()
        replace_registry(repo, deployed)

        status, answer = wait_ready(server, 503)
        error = answer["error"]
        assert isinstance(error, dict)
        assert error["type"] == "OnDemandCodeError"
        assert "the newest registry is not served" in error["message"]
        assert f"module {package!r} cannot be imported" in error["message"]
        status, answer = online(server, ODFV)  # the previous registry keeps serving
        assert status == 200, answer
        assert online(server, ["ride_fare:fare_per_km"])[0] == 404  # unknown in the served registry
        status, metrics, _ = server.request("GET", "/metrics")
        assert re.search(r"^featurestore_registry_rejected_total(\{[^}]*\})? 1$", metrics, re.M), metrics
        assert "the new registry is not served" in server.log.read_text()

        replace_registry(serving_template.root, deployed)  # a registry that resolves: ready again
        wait_ready(server, 200)
        assert online(server, ODFV)[0] == 200
    finally:
        server.stop()
        sys.modules.pop(package, None)


def wait_ready(server: Server, expected: int) -> tuple[int, dict[str, object]]:
    deadline = time.monotonic() + 30
    while True:
        status, answer, _ = server.request("GET", "/ready", token=TOKEN)
        if status == expected or time.monotonic() > deadline:
            assert status == expected, answer
            return status, answer
        time.sleep(0.1)


def test_a_function_from_a_repo_module_outside_definitions_is_refused_at_apply(
    serving_template: Served, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(serving_template.root, repo)
    helpers = f"helpers_{uuid.uuid4().hex[:8]}"
    (repo / f"{helpers}.py").write_text(PACKAGE)  # importable only with the repo on sys.path
    (repo / "definitions" / "serving.py").write_text(PACKAGED_DEFINITIONS.format(package=helpers))
    try:
        with FeatureStore(repo) as store, pytest.raises(DefinitionError) as caught:
            store.apply()
    finally:
        sys.modules.pop(helpers, None)
    message = str(caught.value)
    assert f"on-demand feature view 'ride_fare' ({repo / helpers}.py:7)" in message
    assert f"{helpers}.fare_per_km" in message
    assert "Define the function in definitions/, or in a package installed where it is served" in message


def test_serve_without_a_registry_exits_at_startup(tmp_path: Path) -> None:
    (tmp_path / "featurestore.toml").write_text('project = "nothing_applied"\n')
    stderr = serve_fails(tmp_path)
    assert stderr.startswith("error: RegistryError: nothing is applied in"), stderr

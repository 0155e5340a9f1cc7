"""Two repos (separate folders, nothing shared on disk) on one PostgreSQL registry: a real server that the
suite starts (tests/postgres.py). An apply in one is seen by the other; a stale plan loses with a clear
error; materialization with a SQLite online store and the PostgreSQL registry works end to end.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.errors import ConfigError, RegistryConflictError, RegistryError

pytestmark = pytest.mark.postgres


def _repo(template: Path, target: Path, url: str, extra: str = "") -> Path:
    shutil.copytree(template, target)
    (target / "featurestore.toml").write_text(
        f'project = "team"\n\n[registry]\nurl = "{url}"\nrefresh = "0.2s"\n{extra}'
    )
    return target


@pytest.fixture
def repos(example_repo_template: Path, tmp_path: Path, postgres_url: str) -> Iterator[list[FeatureStore]]:
    stores = [FeatureStore(_repo(example_repo_template, tmp_path / name, postgres_url)) for name in "ab"]
    yield stores
    for store in stores:
        store.close()


def _change_ttl(root: Path) -> None:
    drivers = root / "definitions" / "drivers.py"
    text = drivers.read_text()
    changed = re.sub(
        r"ttl=timedelta\(days=(\d+)\)", lambda m: f"ttl=timedelta(days={int(m[1]) + 1})", text, count=1
    )
    assert changed != text
    drivers.write_text(changed)


def test_an_apply_in_one_repo_is_seen_by_the_other(repos: list[FeatureStore]) -> None:
    one, two = repos
    assert two.plan().base_version == 0
    one.apply()
    assert not (two.root / ".featurestore" / "registry.json").exists()
    assert not (one.root / ".featurestore" / "registry.json").exists()  # nothing written locally
    assert two.registry == one.registry
    planned = two.plan()
    assert planned.empty
    assert planned.base_version == 1
    assert [r.view for r in two.state.versions()] == sorted(one.registry.views)


def test_a_stale_plan_loses_with_the_versions_and_who_applied(repos: list[FeatureStore]) -> None:
    one, two = repos
    one.apply()
    _change_ttl(two.root)
    stale = one.plan()
    assert stale.base_version == 1
    two.apply(expect_version=two.plan().base_version)  # version 2
    with pytest.raises(RegistryConflictError) as info:
        one.apply(expect_version=stale.base_version)
    message = str(info.value)
    assert message.startswith("the registry changed since your plan (version 1 -> 2); run plan again")
    assert "(version 2 applied by " in message
    assert one.registry == two.registry  # the loser wrote nothing
    # The command line says the same in one line, and exits 1.
    result = CliRunner().invoke(cli, ["--repo", str(one.root), "apply", "--expect-version", "1"])
    assert result.exit_code == 1
    assert "version 1 -> 2" in result.output
    plan = CliRunner().invoke(cli, ["--repo", str(one.root), "plan"])
    assert "Against registry version 2" in plan.output
    assert "--expect-version 2" in plan.output


def test_materialize_with_a_sqlite_online_store_end_to_end(repos: list[FeatureStore]) -> None:
    one, two = repos
    one.apply()
    summary = one.materialize()  # the example data is live: up to now
    assert summary.entities_written > 0
    checks = one.verify(sample=None)
    assert checks
    assert [check.failures for check in checks] == [0] * len(checks), checks
    assert {check.view: check.matches for check in checks}["driver_hourly_stats"] == 30  # every driver
    response = one.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}])
    assert response.to_dict()["conv_rate"][0] is not None
    # The other repo reads the same state: watermarks and the run history.
    assert two.state.watermarks() == one.state.watermarks()
    runs = two.runs()
    assert {run.view for run in runs} == set(one.registry.views)
    marks = two.state.watermarks()
    assert [(run.outcome, run.watermark) for run in runs] == [
        ("complete", marks[run.view].event_time) for run in runs
    ]
    assert sum(run.rows_written for run in runs) == summary.entities_written
    # A changed definition: pending, then promoted by its run, the old version deleted.
    _change_ttl(two.root)
    two.apply()
    time.sleep(0.3)  # a reader sees a new registry up to `refresh` (0.2 s here) late
    assert one.registry.view("driver_hourly_stats").view.ttl == timedelta(days=3)
    one.materialize(views=["driver_hourly_stats"])
    assert one.runs("driver_hourly_stats")[0].outcome == "promoted"
    assert [r.status for r in one.state.versions("driver_hourly_stats")] == ["active"]


def test_a_missing_password_variable_and_an_unreachable_server_are_clear(
    example_repo_template: Path, tmp_path: Path, postgres_url: str
) -> None:
    root = _repo(
        example_repo_template, tmp_path / "r", postgres_url, 'password_env = "FS_TEST_NO_SUCH_VAR"\n'
    )
    with FeatureStore(root) as store, pytest.raises(ConfigError, match=r"FS_TEST_NO_SUCH_VAR.*not set"):
        store.plan()
    down = "postgresql://fs:secret-word@127.0.0.1:1/nothing"
    root = _repo(example_repo_template, tmp_path / "s", down)
    with FeatureStore(root) as store, pytest.raises(RegistryError) as info:
        _ = store.registry
    assert "cannot connect to the registry database postgresql://" in str(info.value)
    assert "secret-word" not in str(info.value)


def test_a_dropped_connection_is_reopened_once(repos: list[FeatureStore], postgres_url: str) -> None:
    import psycopg

    from featurestore.registry.sql_backend import SqlBackend
    from featurestore.registry.sql_postgres import PostgresConnection

    one, _ = repos
    one.apply()
    backend = one.backend
    assert isinstance(backend, SqlBackend)
    connection = backend.connection
    assert isinstance(connection, PostgresConnection)

    def drop() -> None:
        held = connection._conn
        assert held is not None
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (held.info.backend_pid,))

    drop()
    assert backend.read()[1] == 1  # a read
    drop()
    with backend.edit() as edit:  # a transaction
        assert edit.versions()
    assert backend.stamp() is not None

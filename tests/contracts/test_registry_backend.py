"""One contract for every registry backend: files, SQLite and PostgreSQL (a real server, tests/postgres.py).

Registry versions count applies and are compare-and-set; history is capped; a state edit is exclusive,
atomic and all-or-nothing, and bumps the stamp; runs are capped per view; projects never see each other.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from featurestore.config import RegistryConfig
from featurestore.errors import RegistryConflictError, RegistryError
from featurestore.registry.backend import RegistryBackend
from featurestore.registry.backends import open_backend
from featurestore.registry.model import Registry
from featurestore.registry.state import RunRecord, ViewVersion, Watermark

T0 = datetime(2026, 1, 1)
Make = Callable[..., RegistryBackend]


def _config(kind: str, tmp_path: Path, request: pytest.FixtureRequest, history: int) -> RegistryConfig:
    if kind == "files":
        return RegistryConfig(history=history)
    if kind == "sqlite":
        return RegistryConfig(url=f"sqlite:///{tmp_path / 'registry.db'}", history=history)
    return RegistryConfig(url=request.getfixturevalue("postgres_url"), history=history)


@pytest.fixture(params=["files", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    """``make(project="p", history=100)``: a new backend (its own connection) on one shared store."""
    base = _config(request.param, tmp_path, request, 100)  # one store for every backend made
    opened: list[RegistryBackend] = []

    def factory(project: str = "p", history: int = 100) -> RegistryBackend:
        config = base.model_copy(update={"history": history})
        backend = open_backend(config, tmp_path / project, project)  # files: a folder per project
        opened.append(backend)
        return backend

    yield factory
    for backend in opened:
        backend.close()


def _record(view: str, version: str, counter: int = 0) -> ViewVersion:
    mark = Watermark(version, T0, None, T0, counter)
    return ViewVersion(view, version, "p", version, "active", T0, watermark=mark)


def _run(view: str, n: int) -> RunRecord:
    return RunRecord(view, "v1", T0, T0 + timedelta(seconds=n), n, n, T0, "complete")


def test_versions_count_applies(make: Make) -> None:
    backend = make()
    assert backend.read() == (None, 0, None)
    assert backend.write(Registry(project="p"), 0).version == 1
    assert backend.read() == (Registry(project="p"), 1, None)
    assert backend.write(Registry(project="q"), 1).version == 2
    registry, version, problem = make().read()  # another reader sees it
    assert (registry, version, problem) == (Registry(project="q"), 2, None)
    # Only checking the version (an apply with nothing to change) writes no new version.
    assert backend.write(None, 2).version == 2
    assert backend.read()[1] == 2


def test_the_second_of_two_writers_gets_a_conflict(make: Make) -> None:
    first, second = make(), make()
    planned = second.read()[1]
    first.write(Registry(project="p"), first.read()[1])
    with pytest.raises(RegistryConflictError) as info:
        second.write(Registry(project="q"), planned)
    message = str(info.value)
    assert message.startswith("the registry changed since your plan (version 0 -> 1); run plan again")
    assert isinstance(info.value, RegistryError)
    assert second.read()[0] == Registry(project="p")  # the loser wrote nothing
    # A sync passed with a losing write is not applied either.
    with pytest.raises(RegistryConflictError):
        second.write(None, 0, lambda edit: edit.put(_record("a", "x")))
    assert second.snapshot().versions() == []


def test_history_is_capped(make: Make) -> None:
    backend = make(history=3)
    for n in range(5):
        backend.write(Registry(project=f"p{n}"), n)
    kept = [v.version for v in backend.history_versions()]
    assert kept == ([5, 4, 3] if backend.kind != "files" else [5])
    assert backend.read()[0:2] == (Registry(project="p4"), 5)


def test_a_failed_edit_leaves_the_previous_state(make: Make) -> None:
    backend = make()
    with backend.edit() as edit:
        edit.put(_record("a", "v1"))

    def failing() -> None:
        with backend.edit() as edit:
            edit.put(_record("b", "v2"))
            edit.drop("a", "v1")
            edit.record_run(_run("a", 1))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing()
    assert [(r.view, r.version) for r in backend.versions()] == [("a", "v1")]
    assert backend.runs() == []


def test_the_stamp_changes_with_every_edit(make: Make) -> None:
    backend = make()
    seen = {backend.stamp()}
    for n in range(3):
        with backend.edit() as edit:
            edit.put(_record("a", "v1", n))
        stamp = backend.stamp()
        assert stamp not in seen
        seen.add(stamp)
    assert backend.watermark("a", "v1") == Watermark("v1", T0, None, T0, 2)
    assert backend.watermarks() == {"a": Watermark("v1", T0, None, T0, 2)}


def _increment(backend: RegistryBackend, times: int) -> None:
    for _ in range(times):
        with backend.edit() as edit:
            record = edit.get("a", "v1")
            assert record is not None
            assert record.watermark is not None
            mark = replace(record.watermark, entities_written=record.watermark.entities_written + 1)
            edit.put(replace(record, watermark=mark))


def test_concurrent_edits_from_threads_lose_no_update(make: Make) -> None:
    with make().edit() as edit:
        edit.put(_record("a", "v1"))
    backends = [make() for _ in range(4)]
    threads = [threading.Thread(target=_increment, args=(b, 10)) for b in backends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    mark = make().watermark("a", "v1")
    assert mark is not None
    assert mark.entities_written == 40


def _increment_in_process(config: RegistryConfig, root: str, project: str, times: int) -> None:
    backend = open_backend(config, Path(root), project)
    _increment(backend, times)
    backend.close()


def test_concurrent_edits_from_processes_lose_no_update(make: Make, tmp_path: Path) -> None:
    backend = make()
    with backend.edit() as edit:
        edit.put(_record("a", "v1"))
    config = RegistryConfig() if backend.kind == "files" else RegistryConfig(url=_url_of(backend, tmp_path))
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_increment_in_process, args=(config, str(tmp_path / "p"), "p", 10))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    mark = make().watermark("a", "v1")
    assert mark is not None
    assert mark.entities_written == 30


def _url_of(backend: RegistryBackend, tmp_path: Path) -> str:
    from featurestore.registry.sql_backend import SqlBackend
    from featurestore.registry.sql_postgres import PostgresConnection

    assert isinstance(backend, SqlBackend)
    connection = backend.connection
    if isinstance(connection, PostgresConnection):
        return connection.url
    return f"sqlite:///{tmp_path / 'registry.db'}"


def test_runs_are_kept_newest_first_and_capped_per_view(make: Make) -> None:
    backend = make(history=2)
    for n in range(1, 4):
        with backend.edit() as edit:
            edit.record_run(_run("a", n))
    with backend.edit() as edit:
        edit.record_run(_run("b", 9))
    assert [r.rows_read for r in backend.runs("a")] == [3, 2]
    assert [(r.view, r.rows_read) for r in backend.runs()] == [("b", 9), ("a", 3), ("a", 2)]
    (newest,) = backend.runs(limit=1)
    assert replace(newest, run=None) == _run("b", 9)
    assert [r.run for r in backend.runs()] == sorted((r.run for r in backend.runs()), reverse=True)


def test_a_run_s_statistics_are_stored_with_it_and_capped_with_it(make: Make) -> None:
    backend = make(history=2)
    assert backend.run_profiles("a") is None
    for n in range(1, 4):
        with backend.edit() as edit:
            edit.record_run(_run("a", n), {"features": {}, "rows": n})
            edit.record_run(_run("b", 10 + n))  # no statistics
    numbers = [r.run for r in backend.runs("a")]
    assert len(numbers) == 2
    assert all(isinstance(n, int) for n in numbers)
    found = backend.run_profiles("a")
    assert found is not None
    record, document = found
    assert (record.run, record.rows_read, document["rows"], document["run"]) == (numbers[0], 3, 3, numbers[0])
    older = backend.run_profiles("a", numbers[1])
    assert older is not None
    assert older[1]["rows"] == 2
    assert backend.run_profiles("b") is None  # runs without statistics
    with backend.edit() as edit:
        edit.record_run(_run("a", 4))  # caps away the run with rows 2 and its statistics
    assert backend.run_profiles("a", numbers[1]) is None
    latest = backend.run_profiles("a")
    assert latest is not None
    assert latest[1]["rows"] == 3


def test_projects_are_isolated(make: Make) -> None:
    one, two = make("one"), make("two")
    one.write(Registry(project="one"), 0)
    with one.edit() as edit:
        edit.put(_record("a", "v1"))
        edit.record_run(_run("a", 1))
    assert two.read() == (None, 0, None)
    assert two.versions() == []
    assert two.runs() == []
    assert two.run_profiles("a") is None
    two.write(Registry(project="two"), 0)  # its own count, no conflict with the other project
    assert two.read()[0:2] == (Registry(project="two"), 1)
    assert one.read()[0:2] == (Registry(project="one"), 1)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_tables_of_a_newer_format_are_refused(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = _config(kind, tmp_path, request, 100)
    backend = open_backend(config, tmp_path, "p")
    backend.write(Registry(project="p"), 0)
    from featurestore.registry.sql_backend import SqlBackend

    assert isinstance(backend, SqlBackend)
    with backend.connection.transaction() as tx:
        tx.rows("UPDATE fs_schema SET version = 99")
    backend.close()
    again = open_backend(config, tmp_path, "p")
    with pytest.raises(RegistryError, match=r"written by a newer featurestore \(table format 99.*upgrade"):
        again.read()
    again.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_first_format_tables_are_upgraded_and_keep_their_runs(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = _config(kind, tmp_path, request, 100)
    backend = open_backend(config, tmp_path, "p")
    with backend.edit() as edit:
        edit.record_run(_run("a", 1))
    from featurestore.registry.sql_backend import SqlBackend

    assert isinstance(backend, SqlBackend)
    with backend.connection.transaction() as tx:  # back to the first table format
        tx.rows("DROP TABLE fs_profiles")
        tx.rows("UPDATE fs_schema SET version = 1")
    backend.close()
    again = open_backend(config, tmp_path, "p")
    with again.edit() as edit:
        edit.record_run(_run("a", 2), {"features": {}, "rows": 2})
    found = again.run_profiles("a")
    assert found is not None
    assert found[1]["rows"] == 2
    assert [r.rows_read for r in again.runs("a")] == [2, 1]
    again.close()

"""Every bad input is one clear error (one of the project's exceptions, naming what, where and the fix),
raised before anything is written; on the command line it is one red line and a non-zero exit.

Each test starts from a good, applied repo, breaks one thing, and checks the message and that the files
the store keeps (registry, state, online store) still hold their previous bytes.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.errors import FeatureStoreError
from tests.pit_repo import freeze_online_clock, make_repo, write_definitions
from tests.test_training_errors import STATS, T  # the same two source rows

VIEWS = """\
from datetime import timedelta

from featurestore import Entity, Feature, FeatureService, FeatureView, FileSource

driver = Entity(name="driver", join_keys=["driver_id"])

stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=timedelta(hours=1),
    source=FileSource(name="stats_src", path="data/stats.parquet", timestamp_field="ts"),
    features=[Feature("conv_rate", "float64"), Feature("trips", "int64")],
)
model = FeatureService(name="model", features=[stats])
"""

ROWS = pa.table(
    {
        "driver_id": pa.array([1, 3], pa.int64()),
        "event_timestamp": pa.array([T, T], pa.timestamp("us")),
    }
)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[FeatureStore]:
    """A good repo, applied."""
    store = make_repo(tmp_path / "repo", {"views.py": VIEWS}, {"data/stats.parquet": STATS}, prelude=False)
    yield store
    store.close()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file the store keeps under ``.featurestore/`` (locks aside), by name."""
    folder = root / ".featurestore"
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def run_cli(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--repo", str(root), *args])
    return result.exit_code, result.stdout, result.stderr


def one_red_line(code: int, err: str) -> str:
    """The CLI failed with exactly one non-empty line on stderr, and no traceback: return it."""
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    return lines[0]


# -- the CLI's red line ------------------------------------------------------------------------------


def test_the_red_line_prints_the_message_literally(repo: FeatureStore) -> None:
    # Emoji codes and console markup in a message (here from a definitions file) are text, not styling.
    write_definitions(
        repo.root,
        {"views.py": VIEWS + '\nraise ValueError("status :x: [bold]not bold[/bold] :thumbs_up:")\n'},
        prelude=False,
    )
    line = one_red_line(*run_cli(repo.root, "apply")[::2])
    assert ":x: [bold]not bold[/bold] :thumbs_up:" in line
    assert re.search(r"definitions/views\.py:16\b", line), line


# -- featurestore.toml -------------------------------------------------------------------------------

BAD_CONFIG = {
    "memory limit that is not a size": (
        '[offline]\nmemory_limit = "lots"\n',
        [r"featurestore\.toml", r"offline\.memory_limit", r"'lots'", r"4GB"],
    ),
    "negative threads": (
        "[offline]\nthreads = -1\n",
        [r"featurestore\.toml", r"offline\.threads", r"at least 1"],
    ),
    "zero threads": ("[offline]\nthreads = 0\n", [r"offline\.threads", r"at least 1"]),
    "a port that is not a number": (
        '[online]\ntype = "redis"\nurl = "redis://localhost:notaport/0"\n',
        [r"featurestore\.toml", r"online\.url", r"port", r"'notaport'"],
    ),
    "a port out of range": (
        '[online]\ntype = "redis"\nurl = "redis://localhost:70000/0"\n',
        [r"online\.url", r"port", r"65535"],
    ),
    "a database that is not a number": (
        '[online]\ntype = "redis"\nurl = "redis://localhost:6379/cache"\n',
        [r"online\.url", r"database", r"'cache'", r"redis://localhost:6379/0"],
    ),
    "not UTF-8": ('project = "caf\xe9"\n', [r"featurestore\.toml", r"UTF-8"]),
    "a negative timeout": (
        '[online]\ntype = "redis"\nconnect_timeout = -1\n',
        [r"online\.connect_timeout", r"greater than 0"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIG))
def test_a_bad_config_value_names_the_key(repo: FeatureStore, case: str) -> None:
    from featurestore.errors import ConfigError

    text, patterns = BAD_CONFIG[case]
    config = repo.root / "featurestore.toml"
    config.write_bytes(text.encode("latin-1"))
    before = snapshot(repo.root)
    with pytest.raises(ConfigError) as info:
        FeatureStore(repo.root)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), f"{pattern!r} not in: {info.value}"
    line = one_red_line(
        *run_cli(repo.root, "training-set", "--entities", "x.parquet", "--features", "model")[::2]
    )
    assert "ConfigError" in line
    assert snapshot(repo.root) == before


def test_a_memory_limit_duckdb_refuses_at_open_names_the_key(repo: FeatureStore) -> None:
    from featurestore.config import DuckDBConfig, RepoConfig
    from featurestore.errors import ConfigError

    # Well-formed, but more than DuckDB can count: refused when the engine opens.
    config = RepoConfig(project="p", offline=DuckDBConfig(memory_limit="99999999999999999999TB"))
    store = FeatureStore(repo.root, config=config)
    with pytest.raises(
        ConfigError, match=r"featurestore\.toml: offline\.memory_limit = .99999999999999999999TB. is refused"
    ):
        _ = store.engine


SECRET = "s3cr@t"  # an '@' in a password once cut the redaction short


@pytest.mark.parametrize(
    "url",
    [
        f"redis://user:{SECRET}@localhost:notaport/0",
        f"redis://:{SECRET}@localhost:6379/x",
        f"rediss://user:{SECRET}@localhost:1234567/0",
    ],
)
def test_a_bad_redis_url_never_shows_its_password(repo: FeatureStore, url: str) -> None:
    from featurestore.errors import ConfigError

    (repo.root / "featurestore.toml").write_text(f'[online]\ntype = "redis"\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as info:
        FeatureStore(repo.root)
    message = str(info.value)
    assert "online.url" in message
    assert "s3cr" not in message, message
    assert "@t" not in message, message
    assert "***" in message


def test_a_password_in_the_url_query_is_refused_not_shown(repo: FeatureStore) -> None:
    from featurestore.errors import ConfigError

    config = repo.root / "featurestore.toml"
    config.write_text(f'[online]\ntype = "redis"\nurl = "redis://localhost:6379/0?password={SECRET}"\n')
    with pytest.raises(ConfigError, match=r"online\.url.*password.*query.*password_env") as info:
        FeatureStore(repo.root)
    assert "s3cr" not in str(info.value)


def test_a_bad_url_in_the_environment_names_the_variable(
    repo: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from featurestore.errors import ConfigError

    monkeypatch.setenv("FEATURESTORE_ONLINE_URL", f"redis://:{SECRET}@localhost:notaport")
    with pytest.raises(ConfigError, match=r"FEATURESTORE_ONLINE_URL.*port") as info:
        FeatureStore(repo.root)
    assert "s3cr" not in str(info.value)


# -- definitions -------------------------------------------------------------------------------------

SQL_VIEW = """\

from featurestore import SqlSource

sql_stats = FeatureView(
    name="sql_stats",
    entities=[driver],
    ttl=None,
    source=SqlSource(name="sql_src", query={query!r}, timestamp_field="ts"),
    features=[Feature("trips", "int64")],
)
"""

BROKEN_DEFINITIONS: dict[str, tuple[str, type[Exception], list[str]]] = {
    "a SqlSource query that does not parse": (
        VIEWS + SQL_VIEW.format(query="SELECT driver_id, ts, trips FROM WHERE ((("),
        "SourceError",
        [
            r"source 'sql_src'",
            r"feature view 'sql_stats'",
            r"views\.py:18\b",
            r"not valid DuckDB SQL",
            r"WHERE",
        ],
    ),
    "a SqlSource query with an unterminated string": (
        VIEWS + SQL_VIEW.format(query="SELECT 'x FROM t"),
        "SourceError",
        [r"source 'sql_src'", r"views\.py:18\b", r"not valid DuckDB SQL"],
    ),
    "a SqlSource with two statements": (
        VIEWS + SQL_VIEW.format(query="SELECT * FROM 'data/stats.parquet'; SELECT 1"),
        "SourceError",
        [r"source 'sql_src'", r"views\.py:18\b", r"2 statements", r"one query"],
    ),
    "a SqlSource that is not a query": (
        VIEWS + SQL_VIEW.format(query="CREATE TABLE t AS SELECT 1"),
        "SourceError",
        [r"source 'sql_src'", r"views\.py:18\b", r"CREATE", r"one query"],
    ),
    "a definitions file calling sys.exit()": (
        VIEWS + "\nimport sys\n\nsys.exit()\n",
        "DefinitionLoadError",
        [r"definitions/views\.py:18\b", r"sys\.exit", r"remove"],
    ),
    "a definitions file calling sys.exit(3)": (
        VIEWS + "\nimport sys\n\nif True:\n    sys.exit(3)\n",
        "DefinitionLoadError",
        [r"definitions/views\.py:19\b", r"sys\.exit"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_DEFINITIONS))
def test_broken_definitions_are_one_error_and_nothing_is_written(repo: FeatureStore, case: str) -> None:
    text, error, patterns = BROKEN_DEFINITIONS[case]
    write_definitions(repo.root, {"views.py": text}, prelude=False)
    before = snapshot(repo.root)
    for attempt in (repo.plan, repo.apply):
        with pytest.raises(FeatureStoreError) as info:
            attempt()
        assert type(info.value).__name__ == error
        for pattern in patterns:
            assert re.search(pattern, str(info.value)), f"{pattern!r} not in: {info.value}"
    line = one_red_line(*run_cli(repo.root, "apply")[::2])
    assert error in line
    assert snapshot(repo.root) == before


# -- the registry and the state files ----------------------------------------------------------------

UNREADABLE_REGISTRIES = {
    "not JSON": b"{not json",
    "not UTF-8": b'{"project": "caf\xe9"}',
    "a list": b"[]",
    "a wrong field": b'{"project": 5, "views": {}}',
    "empty": b"",
}


@pytest.mark.parametrize("case", list(UNREADABLE_REGISTRIES))
def test_an_unreadable_registry_is_an_error_that_apply_resolves(repo: FeatureStore, case: str) -> None:
    from featurestore.errors import RegistryError
    from featurestore.registry.storage import registry_path

    path = registry_path(repo.root)
    good = path.read_bytes()
    versions = [(r.view, r.version, r.status) for r in repo.state.versions()]
    path.write_bytes(UNREADABLE_REGISTRIES[case])
    before = snapshot(repo.root)
    for attempt in (lambda: FeatureStore(repo.root).registry, FeatureStore(repo.root).plan):
        with pytest.raises(RegistryError, match=r"registry\.json.*featurestore apply.*replaces") as info:
            attempt()
        assert "Error:" not in str(info.value)  # no Python exception names in the message
    assert "RegistryError" in one_red_line(*run_cli(repo.root, "list")[::2])
    assert snapshot(repo.root) == before

    # apply replaces it, says so, and keeps the unreadable bytes beside it.
    diff = FeatureStore(repo.root).apply()
    aside = [p for p in path.parent.iterdir() if p.name.startswith("registry.json.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_bytes() == UNREADABLE_REGISTRIES[case]
    assert any(aside[0].name in w and "unreadable" in w for w in diff.warnings), diff.warnings
    # The same registry, one apply later (the registry's version counts applies).
    assert path.read_bytes() == good.replace(b'"registry_version": 1', b'"registry_version": 2')
    assert [(r.view, r.version, r.status) for r in repo.state.versions()] == versions
    assert FeatureStore(repo.root).plan().empty


def test_apply_on_the_command_line_replaces_an_unreadable_registry(repo: FeatureStore) -> None:
    from featurestore.registry.storage import registry_path

    registry_path(repo.root).write_bytes(b"\xff\xfe garbage")
    code, out, _ = run_cli(repo.root, "apply")
    assert code == 0, out
    assert "registry.json.corrupt-" in out
    assert run_cli(repo.root, "list")[0] == 0


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file written through ``os.fdopen`` (the atomic writes of registry and state) fails as on a
    full disk."""
    import errno
    import os

    real = os.fdopen

    class Full:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Full(real(fd, *a, **k)))


def test_a_full_disk_during_apply_keeps_the_previous_files(
    repo: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from featurestore.errors import RegistryError

    write_definitions(repo.root, {"views.py": VIEWS.replace("hours=1", "hours=2")}, prelude=False)
    before = snapshot(repo.root)
    _full_disk(monkeypatch)
    with pytest.raises(RegistryError, match=r"registry\.json.*disk is full.*Free space.*unchanged"):
        FeatureStore(repo.root).apply()
    line = one_red_line(*run_cli(repo.root, "apply")[::2])
    assert "disk is full" in line
    monkeypatch.undo()
    assert snapshot(repo.root) == before
    assert not [p for p in (repo.root / ".featurestore").iterdir() if p.name.endswith(".tmp")]
    assert [c.kind for c in FeatureStore(repo.root).apply().changes] == ["data"]  # a rerun completes


def _record(**changes: Any) -> dict[str, Any]:
    """A well-formed version record of the state file, with ``changes`` applied."""
    record: dict[str, Any] = {
        "view": "stats",
        "version": "abc-1",
        "project": "repo",
        "fingerprint": "abc",
        "status": "active",
        "created_at": "2024-01-01T00:00:00",
        "definition": None,
        "watermark": None,
        "promoted_at": None,
        "retired_at": None,
        "writers": [],
        "rebuild": False,
    }
    record.update(changes)
    return record


def _state(record: Any) -> Any:
    return {"format": 2, "views": {"stats": {"abc-1": record}}}


BAD_STATES: dict[str, tuple[Any, list[str]]] = {
    "a list": ([], [r"the file is a list"]),
    "null": (None, [r"the file is null"]),
    "views is a list": ({"format": 2, "views": []}, [r"\bviews is a list"]),
    "a view's versions are a list": ({"format": 2, "views": {"stats": []}}, [r"views\.stats", r"a list"]),
    "a record is a string": (_state("active"), [r"views\.stats\.abc-1", r"a string"]),
    "a record lacks its status": (
        _state({k: v for k, v in _record().items() if k != "status"}),
        [r"views\.stats\.abc-1", r"'status' is missing"],
    ),
    "an unknown status": (_state(_record(status="serving")), [r"'status'", r"'serving'", r"pending, active"]),
    "a time that is a number": (_state(_record(created_at=5)), [r"'created_at'", r"ISO time", r"a number"]),
    "a time that is not a time": (_state(_record(created_at="yesterday")), [r"'created_at'", r"'yesterday'"]),
    "a watermark that is a list": (_state(_record(watermark=[])), [r"abc-1\.watermark is a list"]),
    "a watermark without its time": (
        _state(_record(watermark={"version": "abc-1", "updated_at": "2024-01-01T00:00:00"})),
        [r"watermark", r"'event_time' is missing"],
    ),
    "writers that are not a list": (_state(_record(writers={"pid": 1})), [r"abc-1\.writers is an object"]),
    "a writer without a pid": (
        _state(_record(writers=[{"host": "h", "since": "2024-01-01T00:00:00"}])),
        [r"writers\[0\]", r"'pid' is missing"],
    ),
    "a record filed under another view": (
        {"format": 2, "views": {"other": {"abc-1": _record()}}},
        [r"views\.other\.abc-1", r"'stats'"],
    ),
    "a newer format": ({"format": 3, "views": {}}, [r"format 3", r"newer"]),
    "a format that is not a number": ({"format": "x", "views": {}}, [r"format 'x'"]),
    "first format with watermarks as a list": ({"watermarks": []}, [r"\bwatermarks is a list"]),
    "first format with a number of namespaces": ({"namespaces": {"a": 5}}, [r"namespaces\.a", r"a number"]),
}


@pytest.mark.parametrize("case", list(BAD_STATES))
def test_a_state_file_of_the_wrong_shape_is_one_clear_error(repo: FeatureStore, case: str) -> None:
    import json

    from featurestore.errors import RegistryError

    content, patterns = BAD_STATES[case]
    state = repo.root / ".featurestore" / "state.json"
    state.write_text(json.dumps(content))
    before = snapshot(repo.root)
    store = FeatureStore(repo.root)
    for attempt in (store.state.versions, store.status, store.apply, lambda: store.materialize(end=T)):
        with pytest.raises(RegistryError) as info:
            attempt()
        message = str(info.value)
        assert "state.json" in message
        assert "Move it aside" in message
        assert not re.search(r"\w+Error\b", message), message  # what is wrong, not a Python exception
        for pattern in patterns:
            assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    assert "RegistryError" in one_red_line(*run_cli(repo.root, "status")[::2])
    assert snapshot(repo.root) == before


def test_a_state_file_that_is_not_utf8_is_one_clear_error(repo: FeatureStore) -> None:
    from featurestore.errors import RegistryError

    (repo.root / ".featurestore" / "state.json").write_bytes(b'{"format": 2, "views": {"caf\xe9": {}}}')
    with pytest.raises(RegistryError, match=r"state\.json.*not UTF-8.*Move it aside"):
        FeatureStore(repo.root).state.versions()


# -- the online store --------------------------------------------------------------------------------


def test_a_full_sqlite_online_store_is_reported_as_full(
    repo: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from featurestore.errors import OnlineStoreError
    from featurestore.online.sqlite import SqliteOnlineStore

    freeze_online_clock(monkeypatch, T)
    repo.materialize(end=T)
    served = repo.get_online_features(["stats:trips"], [{"driver_id": 1}], now=T).to_dict()
    active = repo.state.active("stats")
    online = repo.online_store
    assert isinstance(online, SqliteOnlineStore)
    # The file may not grow any more, and its free pages are used up: SQLite reports SQLITE_FULL, as on a
    # full disk.
    conn = online._connect()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    filler = "INSERT INTO online_values VALUES ('filler', ?, 0, zeroblob(100))"
    with contextlib.suppress(sqlite3.OperationalError):
        for i in range(10_000):
            conn.execute(filler, (str(i),))
    with pytest.raises(OnlineStoreError) as info:
        repo.materialize(end=T, overwrite=True)
    message = str(info.value)
    assert "full" in message, message
    assert "rollback" not in message, message
    assert "online.db" in message
    assert "stats" in message
    assert repo.state.active("stats") == active  # the served version and its watermark did not move
    assert served["trips"] == [3]
    assert repo.get_online_features(["stats:trips"], [{"driver_id": 1}], now=T).to_dict() == served


# -- entity rows -------------------------------------------------------------------------------------


def _write_rows(path: Path) -> Path:
    """``ROWS`` as a file of the format its name says."""
    import json

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    records = [
        {"driver_id": r["driver_id"], "event_timestamp": r["event_timestamp"].isoformat()}
        for r in ROWS.to_pylist()
    ]
    if path.suffix == ".csv":
        pacsv.write_csv(ROWS, path)
    elif path.suffix in (".ndjson", ".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif path.suffix == ".json":
        path.write_text(json.dumps(records))
    else:
        pq.write_table(ROWS, path)
    return path


@pytest.mark.parametrize("name", ["rows.csv", "rows.ndjson", "rows.jsonl", "rows.json", "rows.parquet"])
def test_entity_rows_files_are_read_by_their_format(
    repo: FeatureStore, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_rows(repo.root / "data" / name)
    expected = repo.get_training_set(ROWS, ["stats:trips"]).to_arrow()
    for given in (path, str(path)):
        out = repo.get_training_set(given, ["stats:trips"]).to_arrow()
        assert out.column("trips").to_pylist() == [3, None]
        assert out.column("event_timestamp").to_pylist() == expected.column("event_timestamp").to_pylist()
    # On the command line, relative to where it runs, like any path.
    monkeypatch.chdir(repo.root)
    code, out_text, err = run_cli(
        repo.root, "training-set", "--entities", f"data/{name}", "--features", "stats:trips"
    )
    assert code == 0, err
    assert "trips" in out_text


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("data/missing.csv", [r"missing\.csv'", r"does not exist"]),
        ("data/rows.txt", [r"data/rows\.txt'", r"\.csv", r"\.parquet", r"\.json"]),
        ("data/rows.xlsx", [r"data/rows\.xlsx'", r"\.csv"]),
    ],
)
def test_an_entity_rows_path_is_never_run_as_sql(repo: FeatureStore, text: str, patterns: list[str]) -> None:
    from featurestore.errors import EntityRowsError

    (repo.root / "data" / "rows.txt").write_text("driver_id,event_timestamp\n1,2024-01-01 12:00:00\n")
    (repo.root / "data" / "rows.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(EntityRowsError) as info:
        repo.get_training_set(str(repo.root / text), ["stats:trips"])
    message = str(info.value)
    assert "SQL" not in message, message
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"


def test_a_broken_entity_rows_file_is_named_without_its_content(repo: FeatureStore) -> None:
    from featurestore.errors import EntityRowsError

    bad = repo.root / "data" / "secret.csv"
    bad.write_text("driver_id,event_timestamp\n1,2024-01-01 12:00:00\nhunter2-the-password\n")
    with pytest.raises(EntityRowsError, match=r"secret\.csv.*CSV") as info:
        repo.get_training_set(bad, ["stats:trips"])
    assert "hunter2" not in str(info.value)
    passwd = repo.root / "data" / "passwd.csv"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    with pytest.raises(EntityRowsError, match=r"passwd\.csv") as info:
        repo.get_training_set(passwd, ["stats:trips"])
    assert "root" not in str(info.value).replace(str(repo.root), "")


def test_entity_rows_too_early_for_a_views_ttl_are_refused(repo: FeatureStore) -> None:
    from featurestore.errors import EntityRowsError

    early = pa.table(
        {
            "driver_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([T, datetime(1, 1, 1, 0, 30)], pa.timestamp("us")),
        }
    )
    with pytest.raises(EntityRowsError) as info:
        repo.get_training_set(early, ["stats:trips"])
    message = str(info.value)
    for pattern in [r"'event_timestamp'", r"0001-01-01 00:30:00", r"feature view 'stats'", r"1h", r"drop"]:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    # As late as a timestamp goes is fine (nothing is added to an entity row's time); the value expired.
    late = early.set_column(
        1, "event_timestamp", pa.array([T, datetime(9999, 12, 31, 23, 59)], pa.timestamp("us"))
    )
    assert repo.get_training_set(late, ["stats:trips"]).to_arrow().column("trips").to_pylist() == [3, None]


def test_entity_rows_in_year_one_are_one_red_line(repo: FeatureStore) -> None:
    import pyarrow.parquet as pq

    path = repo.root / "data" / "year_one.parquet"
    pq.write_table(
        pa.table({"driver_id": pa.array([1], pa.int64()), "event_timestamp": pa.array([datetime(1, 1, 1)])}),
        path,
    )
    line = one_red_line(
        *run_cli(repo.root, "training-set", "--entities", str(path), "--features", "stats:trips")[::2]
    )
    assert "EntityRowsError" in line


def test_a_materialize_end_too_early_for_a_views_ttl_is_refused(repo: FeatureStore) -> None:
    from featurestore.errors import MaterializationError

    before = snapshot(repo.root)
    with pytest.raises(MaterializationError, match=r"end 0001-01-01 00:00:00.*feature view 'stats'.*1h"):
        repo.materialize(end=datetime(1, 1, 1))
    line = one_red_line(*run_cli(repo.root, "materialize", "--end", "0001-01-01")[::2])
    assert "MaterializationError" in line
    line = one_red_line(*run_cli(repo.root, "materialize-incremental", "--end", "0001-01-01T00:10:00")[::2])
    assert "MaterializationError" in line
    assert snapshot(repo.root) == before


# -- training set files ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_a_training_set_out_where_nothing_can_be_written(
    repo: FeatureStore, tmp_path: Path, where: str
) -> None:
    from featurestore.errors import OutputError

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file, not a folder")
    target = blocker / "ts.parquet" if where == "under a file" else Path("/proc/featurestore-ts.parquet")
    ran: list[str] = []
    engine = repo.engine
    original = engine.batches

    def spy(sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
        ran.append(sql)
        return original(sql, batch_size)

    repo.engine.batches = spy  # type: ignore[method-assign]
    with pytest.raises(OutputError, match=rf"cannot be written to {re.escape(str(target))}: ") as info:
        repo.get_training_set(ROWS, ["stats:trips"]).to_parquet(target)
    assert "Error" not in str(info.value).split(":", 1)[1]  # no Python exception names
    assert ran == []  # refused before the training set was computed
    assert blocker.read_text() == "a file, not a folder"
    rows = str(_write_rows(tmp_path / "rows.parquet"))
    code, _, err = run_cli(
        repo.root, "training-set", "--entities", rows, "--features", "stats:trips", "--out", str(target)
    )
    line = one_red_line(code, err)
    assert "OutputError" in line


def test_a_full_disk_while_writing_a_training_set_keeps_the_previous_file(
    repo: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import pyarrow.parquet as pq

    from featurestore.errors import OutputError

    target = tmp_path / "out" / "ts.parquet"
    repo.get_training_set(ROWS, ["stats:trips"]).to_parquet(target)
    before = target.read_bytes()

    def full(self: Any, table: pa.Table, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    with pytest.raises(OutputError, match=r"ts\.parquet.*disk is full.*Free space.*unchanged"):
        repo.get_training_set(ROWS, ["stats:conv_rate"]).to_parquet(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["ts.parquet"]  # no temp file left


# -- sources that changed after apply, and engine errors at run time ---------------------------------


def _drift(root: Path) -> None:
    """``trips`` becomes text in the source file, after apply."""
    import pyarrow.parquet as pq

    pq.write_table(STATS.set_column(3, "trips", pa.array(["three", "four"])), root / "data" / "stats.parquet")


def test_a_source_column_whose_type_drifted_is_named_at_training_time(repo: FeatureStore) -> None:
    from featurestore.errors import SchemaMismatchError

    _drift(repo.root)
    for attempt in (
        lambda: repo.get_training_set(ROWS, ["stats:trips"]).to_arrow(),
        lambda: list(repo.get_training_set(ROWS, ["stats:trips"]).to_batches()),
        lambda: repo.get_training_set(ROWS, ["stats:trips"]).to_parquet(repo.root / "ts.parquet"),
    ):
        with pytest.raises(SchemaMismatchError) as info:
            attempt()
        message = str(info.value)
        for pattern in [
            r"feature view 'stats'",
            r"views\.py:7\b",
            r"'stats_src'",
            r"'trips'",
            r"'trips' is string \(was int64 at apply\)",
        ]:
            assert re.search(pattern, message), f"{pattern!r} not in: {message}"
        assert "featurestore apply" in message
        assert "three" not in message  # never a value of the file
    assert not (repo.root / "ts.parquet").exists()
    rows = _write_rows(repo.root / "rows.parquet")
    line = one_red_line(
        *run_cli(repo.root, "training-set", "--entities", str(rows), "--features", "stats:trips")[::2]
    )
    assert "SchemaMismatchError" in line


def test_a_source_column_whose_type_drifted_is_named_at_materialize(
    repo: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from featurestore.errors import SchemaMismatchError

    freeze_online_clock(monkeypatch, T)
    _drift(repo.root)
    before = snapshot(repo.root)
    with pytest.raises(
        SchemaMismatchError, match=r"feature view 'stats'.*'stats_src'.*'trips' is string.*apply"
    ):
        repo.materialize(end=T)
    assert repo.state.active("stats") is None or repo.state.active("stats").watermark is None  # type: ignore[union-attr]
    assert [r.writers for r in repo.state.versions()] == [()]
    line = one_red_line(*run_cli(repo.root, "materialize", "--end", T.isoformat())[::2])
    assert "SchemaMismatchError" in line
    assert {k for k in snapshot(repo.root) if not k.startswith("online.db")} == {
        k for k in before if not k.startswith("online.db")
    }


def test_an_engine_error_at_run_time_names_the_view_and_source(repo: FeatureStore) -> None:
    import pyarrow.parquet as pq

    from featurestore.errors import SourceError

    pq.write_table(
        pa.table({"driver_id": pa.array([1, 2]), "ts": pa.array([T, T]), "n": pa.array(["lots", "many"])}),
        repo.root / "data" / "counts.parquet",
    )
    cast = "SELECT driver_id, ts, CAST(n AS BIGINT) AS trips FROM read_parquet('data/counts.parquet')"
    write_definitions(repo.root, {"views.py": VIEWS + SQL_VIEW.format(query=cast)}, prelude=False)
    repo.apply()  # the types are right; one value is not
    with pytest.raises(SourceError) as info:
        repo.get_training_set(ROWS, ["stats:trips", "sql_stats:trips"], full_feature_names=True).to_arrow()
    message = str(info.value)
    assert "feature view 'sql_stats'" in message or "'sql_stats'" in message, message
    assert "'sql_src'" in message
    assert "lots" not in message  # never a value of the file


PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


@pytest.mark.parametrize("declared", ["", ', file_format="csv"'])
def test_a_source_that_is_not_a_table_is_named_without_its_content(
    repo: FeatureStore, tmp_path: Path, declared: str
) -> None:
    secret = tmp_path / "passwd"
    secret.write_text(PASSWD)
    text = VIEWS.replace('path="data/stats.parquet"', f'path="{secret}"{declared}')
    write_definitions(repo.root, {"views.py": text}, prelude=False)
    before = snapshot(repo.root)
    with pytest.raises(FeatureStoreError) as info:
        repo.apply()
    message = str(info.value)
    assert str(secret) in message
    assert re.search(r"feature view 'stats'", message)
    for leaked in ("root:", ":x:", "/bin/bash", "daemon", "nologin"):
        assert leaked not in message, message
    line = one_red_line(*run_cli(repo.root, "apply")[::2])
    for leaked in ("root:", "\u274c", "/bin/bash"):
        assert leaked not in line, line
    assert snapshot(repo.root) == before


# -- SDK mistakes ------------------------------------------------------------------------------------


def _sdk_mistakes(store: FeatureStore) -> dict[str, tuple[Any, str, list[str]]]:
    """name -> (call, error class name, patterns in its message)."""
    import sys

    sys.path.insert(0, str(store.root))
    try:
        from featurestore.registry.loader import load_definitions

        defs = load_definitions(store.root)
    finally:
        sys.path.remove(str(store.root))
    view, driver = defs.views["stats"], defs.entities["driver"]
    row = [{"driver_id": 1}]
    return {
        "features=None (training)": (
            lambda: store.get_training_set(ROWS, None),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"features is None", r"'view:feature'", r"FeatureService"],
        ),
        "features=None (online)": (
            lambda: store.get_online_features(None, row),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"features is None", r"'view:feature'"],
        ),
        "features=5": (
            lambda: store.get_training_set(ROWS, 5),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"features is an int"],
        ),
        "features=a view object": (
            lambda: store.get_online_features(view, row),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"feature view 'stats'", r"\['stats:\*'\]"],
        ),
        "features=[a view object]": (
            lambda: store.get_training_set(ROWS, [view]),  # type: ignore[list-item]
            "InvalidArgumentError",
            [r"feature view 'stats'", r"'stats:\*'"],
        ),
        "end='yesterday'": (
            lambda: store.materialize(end="yesterday"),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"end='yesterday'", r"ISO", r"'now'"],
        ),
        "start=5": (
            lambda: store.materialize(start=5, end=T),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"start is an int", r"datetime"],
        ),
        "views='sta' (a string)": (
            lambda: store.materialize(end=T, views="sta"),
            "UnknownViewError",
            [r"'sta'", r"Did you mean 'stats'"],
        ),
        "views=5": (
            lambda: store.materialize(end=T, views=5),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"views is an int", r"\['stats'\]"],
        ),
        "entity_rows=an entity": (
            lambda: store.get_online_features(["stats:trips"], driver),
            "EntityRowsError",
            [r"entity 'driver'", r"\[\{'driver_id': "],
        ),
        "entity_rows=None": (
            lambda: store.get_online_features(["stats:trips"], None),
            "EntityRowsError",
            [r"NoneType|None", r"\[\{'driver_id': "],
        ),
        "entity_rows=a number": (
            lambda: store.get_online_features(["stats:trips"], 1),
            "EntityRowsError",
            [r"\[\{'driver_id': "],
        ),
        "push to a view named by an object": (
            lambda: store.push(view, [{"driver_id": 1}]),  # type: ignore[arg-type]
            "InvalidArgumentError",
            [r"view is a FeatureView", r"'stats'"],
        ),
    }


def test_sdk_mistakes_are_the_projects_errors_with_the_fix(repo: FeatureStore) -> None:
    before = snapshot(repo.root)
    for name, (call, error, patterns) in _sdk_mistakes(repo).items():
        with pytest.raises(FeatureStoreError) as info:
            call()
        assert type(info.value).__name__ == error, f"{name}: {info.value!r}"
        for pattern in patterns:
            assert re.search(pattern, str(info.value)), f"{name}: {pattern!r} not in: {info.value}"
    assert snapshot(repo.root) == before


def test_sdk_conveniences_that_are_unambiguous_are_accepted(
    repo: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_online_clock(monkeypatch, T)
    # One view named by a string is that view, not a list of its characters.
    assert [r.view for r in repo.materialize(end=T, views="stats").runs] == ["stats"]
    # ISO strings and "now" are times (naive = UTC).
    assert repo.materialize(end="2024-01-01T12:00:00", views=["stats"]).runs[0].end == T
    assert repo.materialize_incremental(end="2024-01-01T12:00:00Z", views="stats").runs[0].view == "stats"
    monkeypatch.undo()
    assert repo.materialize(end="now").runs[0].view == "stats"
    # One entity row given as a dict of values.
    one = repo.get_online_features(["stats:trips"], {"driver_id": 1}, now=T).to_dict()
    assert one["driver_id"] == [1]

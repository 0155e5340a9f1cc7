"""The command line as a serving engineer reads it: request data for on-demand features, statuses
apart from values, ``null`` for a missing value, counts pluralised, and a start that imports no engine.

The repo (``T`` = 2024-01-01 12:00 UTC), view ``stats`` (ttl 1 h), materialized at ``T`` and read
at ``T + 20 min``:

======  ==========  =========  =====  ==============================================
driver  ts          conv_rate  trips  online at T + 20 min
======  ==========  =========  =====  ==============================================
1       T - 10 min  0.5        4      PRESENT
2       T - 10 min  0.25       null   PRESENT (trips is null in the source)
3       T - 50 min  0.75       9      EXPIRED (written at T, older than the ttl now)
4       -           -          -      NOT_FOUND (never written)
======  ==========  =========  =====  ==============================================

On-demand view ``ride`` reads request fields ``fare`` (float64), ``km`` (int64) and ``stats:conv_rate``:
``fare_per_km = fare / km``, ``expected = fare * conv_rate``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import featurestore.online.readplan as readplan
import featurestore.online.sqlite as sqlite
from featurestore.cli import cli
from tests.pit_repo import freeze_online_clock, make_repo, naive

T = naive(2024, 1, 1, 12)
MIN = timedelta(minutes=1)

DEFS = """
import polars as pl
from featurestore import RequestSource, on_demand_feature_view

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(hours=1),
    source=FileSource(name="stats_src", path="data/stats.parquet", timestamp_field="ts"),
    features=[Feature("conv_rate", "float64"), Feature("trips", "int64")],
)
ride_request = RequestSource(name="ride_request", fields=[Feature("fare", "float64"), Feature("km", "int64")])


@on_demand_feature_view(
    sources=[ride_request, stats[["conv_rate"]]],
    features=[Feature("fare_per_km", "float64"), Feature("expected", "float64")],
)
def ride(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select(
        (pl.col("fare") / pl.col("km")).alias("fare_per_km"),
        (pl.col("fare") * pl.col("conv_rate")).alias("expected"),
    )
"""

DATA = {
    "data/stats.parquet": {
        "driver_id": [1, 2, 3],
        "ts": [T - 10 * MIN, T - 10 * MIN, T - 50 * MIN],
        "conv_rate": [0.5, 0.25, 0.75],
        "trips": [4, None, 9],
    }
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    freeze_online_clock(monkeypatch, T)
    store = make_repo(root, DEFS, DATA)
    store.materialize(end=T)
    freeze_online_clock(monkeypatch, T + 20 * MIN)
    monkeypatch.setattr(readplan, "time", sqlite.time)  # reads at T + 20 min too
    return root


def run(root: Path, *args: str) -> tuple[int, list[str], str]:
    """Exit code, the printed lines with cells one space apart, and stderr as one line."""
    result = CliRunner().invoke(cli, ["--repo", str(root), *args])
    lines = [" ".join(line.split()) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines, " ".join(result.stderr.split())


def entities(*ids: int) -> list[str]:
    return [word for i in ids for word in ("--entity", f"driver_id={i}")]


def test_get_online_keeps_statuses_in_a_column_per_view_and_prints_null(repo: Path) -> None:
    code, lines, err = run(
        repo, "get-online", "--features", "stats:conv_rate,stats:trips", *entities(1, 2, 3, 4)
    )
    assert code == 0, err
    assert lines == [
        "driver_id conv_rate trips status",
        "1 0.5 4 PRESENT",
        "2 0.25 null PRESENT",
        "3 null null EXPIRED",
        "4 null null NOT_FOUND",
        "4 rows (NOT_FOUND: the entity was never written to the view; EXPIRED: the latest value is "
        "older than the view's ttl)",
    ]
    code, lines, err = run(repo, "get-online", "--features", "stats:conv_rate", *entities(1))
    assert lines == ["driver_id conv_rate status", "1 0.5 PRESENT", "1 row"]


def test_get_online_reads_request_data_typed_by_the_request_source(repo: Path) -> None:
    args = ("get-online", "--features", "stats:trips,ride:*", *entities(1, 4))
    code, lines, err = run(repo, *args, "--request", "fare=12", "--request", "km=4")
    assert code == 0, err
    assert lines == [
        "driver_id trips fare_per_km expected stats status ride status",
        "1 4 3.0 6.0 PRESENT PRESENT",
        # the fare per km needs no view; the expected value reads conv_rate, which driver 4 lacks
        "4 null 3.0 null NOT_FOUND NOT_FOUND",
        "2 rows (NOT_FOUND: the entity was never written to the view)",
    ]
    # Given once per entity, each entity gets its own value.
    code, lines, err = run(repo, *args, "--request", "fare=12", "--request", "km=4", "--request", "km=3")
    assert code == 0, err
    assert [line.split()[2] for line in lines[1:3]] == ["3.0", "4.0"]


def test_get_online_json_keeps_values_and_statuses_apart(repo: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--repo",
            str(repo),
            "get-online",
            "--features",
            "ride:expected",
            *entities(1, 3),
            "--json",
            "--request",
            "fare=10",
            "--request",
            "km=2",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "values": {"driver_id": [1, 3], "expected": [5.0, None]},
        "statuses": {"expected": ["PRESENT", "EXPIRED"]},
    }


@pytest.mark.parametrize(
    ("request_args", "message"),
    [
        (["km=4"], "error: EntityRowsError: on-demand features need request field 'fare' (float64)"),
        (
            ["fare=cheap", "km=4"],
            "error: --request fare='cheap': fare is float64, give a number, e.g. fare=12.5",
        ),
        (["fare=12", "km=4.5"], "error: --request km='4.5': km is int64, give a whole number, e.g. km=3"),
        (["fare", "km=4"], "error: --request 'fare' is not FIELD=VALUE (for example distance_km=3.5)"),
        (
            ["fare=12", "km=4", "tip=1"],
            "error: --request tip: the requested features read no field 'tip'; they read fare (float64), "
            "km (int64)",
        ),
        (
            ["fare=12", "km=4", "km=3", "km=2"],
            "error: --request km is given 3 times for 2 entities: give it once (for every entity) or once "
            "per --entity",
        ),
    ],
)
def test_a_bad_request_value_is_one_red_line_naming_the_field(
    repo: Path, request_args: list[str], message: str
) -> None:
    words = [w for r in request_args for w in ("--request", r)]
    code, lines, err = run(repo, "get-online", "--features", "ride:fare_per_km", *entities(1, 2), *words)
    assert code == 1
    assert lines == []
    assert err.startswith(message), err
    assert "Traceback" not in err


def test_request_data_for_features_that_read_none_is_refused(repo: Path) -> None:
    code, _, err = run(repo, "get-online", "--features", "stats:trips", *entities(1), "--request", "fare=1")
    assert code == 1
    assert err == (
        "error: --request fare: the requested features read no field 'fare'; they read none: no requested "
        "feature is on demand"
    )


def test_counts_in_summaries_are_pluralised(repo: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"driver_id": [1], "event_timestamp": [T]}), rows)
    code, lines, err = run(repo, "training-set", "--entities", str(rows), "--features", "stats:trips")
    assert code == 0, err
    assert lines[-1].startswith("1 row x 3 columns in "), lines
    code, lines, err = run(repo, "materialize", "--end", (T + 20 * MIN).isoformat(), "--view", "stats")
    assert code == 0, err
    summary = lines[-1]
    assert summary.startswith("materialized 1 view up to 2024-01-01T12:20:00"), summary
    assert "2 entities written, 2 rows read," in summary


HEAVY = ("duckdb", "pyarrow", "polars", "numpy", "sqlglot", "pydantic", "rich")


def test_the_cli_starts_without_importing_an_engine() -> None:
    """``featurestore --version`` and ``--help`` import click and the command modules only: no engine,
    no Arrow, no definitions (their start is measured, not asserted here)."""
    code = (
        "import sys\n"
        "from featurestore.cli import main\n"
        "sys.argv = ['featurestore', sys.argv[1]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    for flag in ("--version", "--help"):
        done = subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, check=True)
        *printed, loaded = done.stdout.splitlines()
        assert loaded == "", f"featurestore {flag} imported {loaded}"
        assert printed, flag

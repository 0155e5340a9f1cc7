"""``featurestore drift`` over saved profile files: the table, ``--json``, thresholds, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner, Result

from featurestore.cli import cli
from featurestore.stats import Profiler, Profiles


def saved(path: Path, label: str, rate: list[float], city: list[str]) -> str:
    profiler = Profiler({"rate": "double", "city": "string"})
    profiler.update(pa.table({"rate": rate, "city": city}))
    return str(Profiles.of(profiler, rows=len(rate), label=label).save(path))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    # rate 1..10 -> 2..11: PSI 0.7594 (hand-checked in test_drift.py), KS 0.1; city (a, a, b, b) x 2.5 both.
    city = ["a", "a", "b", "b"] * 2 + ["a", "b"]
    return {
        "ref": saved(tmp_path / "ref.json", "training set", [float(v) for v in range(1, 11)], city),
        "same": saved(tmp_path / "same.json", "served", [float(v) for v in range(1, 11)], city),
        "shifted": saved(tmp_path / "shifted.json", "served", [float(v) for v in range(2, 12)], city),
    }


def drift(files: dict[str, str], reference: str, current: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["drift", "--reference", files[reference], "--current", files[current], *args]
    )


def test_no_drift_exits_0_with_a_table(files: dict[str, str]) -> None:
    result = drift(files, "ref", "same")
    assert result.exit_code == 0, result.output
    assert "drift: training set -> served" in result.stdout
    assert "no drift over thresholds in 2 features (training set -> served)" in result.stdout
    assert "0.0000 ≤ 0.2" in result.stdout  # rate's PSI and its threshold


def test_drift_exits_3_and_marks_the_metric(files: dict[str, str]) -> None:
    result = drift(files, "ref", "shifted")
    assert result.exit_code == 3, result.output
    assert "0.7594 > 0.2 ✗" in result.stdout
    assert "drift in 1 of 2 features: rate: psi" in result.stdout


def test_json_and_thresholds(files: dict[str, str]) -> None:
    result = drift(
        files, "ref", "shifted", "--json", "--threshold", "ks=0.05", "--threshold", "rate:psi=none"
    )
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert document["reference"] == "training set"
    assert document["exceeded"] == {"rate": ["ks"]}
    (rate, city) = document["features"]
    assert rate["thresholds"] == {"psi": None, "ks": 0.05, "js": 0.1, "linf": 0.1, "nulls": None}
    assert rate["metrics"]["ks"] == pytest.approx(0.1)
    assert city["thresholds"]["ks"] == 0.05
    assert city["metrics"] == {"js": 0.0, "linf": 0.0, "nulls": 0.0}

    loose = drift(files, "ref", "shifted", "--json", "--threshold", "psi=1")
    assert loose.exit_code == 0
    assert json.loads(loose.stdout)["exceeded"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "psi"], "'psi' is not [FEATURE:]METRIC=VALUE"),
        (["--threshold", "psi=high"], "'high' is not a number"),
        (["--threshold", "chi2=1"], "no drift metric 'chi2'"),
        (["--threshold", "psi=-0.5"], "psi=-0.5 is not a number >= 0"),
    ],
)
def test_bad_thresholds_exit_1(files: dict[str, str], args: list[str], message: str) -> None:
    result = drift(files, "ref", "same", *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_a_missing_or_bad_file_exits_1(files: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["drift", "--reference", str(tmp_path / "nope.json"), "--current", files["ref"]]
    )
    assert result.exit_code == 1
    assert "no profile file" in result.stderr
    (tmp_path / "bad.json").write_text('{"rows": 1}')
    result = CliRunner().invoke(
        cli, ["drift", "--reference", files["ref"], "--current", str(tmp_path / "bad.json")]
    )
    assert result.exit_code == 1
    assert "is not a feature profile document" in result.stderr

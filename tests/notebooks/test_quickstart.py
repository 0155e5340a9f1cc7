"""tests/notebooks/quickstart.ipynb, executed headlessly with nbclient over a copy of the example repo.

Locally a missing nbclient / nbformat / ipykernel skips the test; with ``CI`` set it fails.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest

import featurestore
from tests.conftest import copy_example_repo

NOTEBOOK = Path(__file__).with_name("quickstart.ipynb")


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(
                f"{module} is not installed, but CI is set: the notebook must run (pip install -e '.[dev]')"
            )
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")


def _text(cell: Any) -> str:
    """Everything a code cell showed: printed text and the plain and HTML forms of its result."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.extend(data.get(kind, "") for kind in ("text/plain", "text/html"))
    return "\n".join(parts)


def _cell(cells: list[Any], source_start: str) -> Any:
    found = [c for c in cells if c.cell_type == "code" and c.source.startswith(source_start)]
    assert len(found) == 1, f"one code cell of the notebook starts with {source_start!r}"
    return found[0]


def test_quickstart_notebook_runs_over_the_example_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = _require("nbformat")
    nbclient = _require("nbclient")
    _require("ipykernel")
    # The kernel imports the featurestore under test, whatever its working directory.
    package_root = str(Path(featurestore.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    )
    repo = copy_example_repo(tmp_path / "repo", days=3, drivers=20, customers=50, rows=500)
    folder = repo / "tests" / "notebooks"  # the notebook finds the repo at ../.. as in a checkout
    folder.mkdir(parents=True)
    shutil.copy(NOTEBOOK, folder)
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "committed without outputs"
    )

    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()

    cells = notebook.cells
    errors = [o for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    warnings = [o for c in cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert warnings == []

    plan = _text(_cell(cells, "store.plan()"))
    assert "driver_hourly_stats" in plan
    assert "driver_ranking_v1" in plan
    applied = _text(_cell(cells, "applied = store.apply()"))
    assert "Next:\n  store.materialize(end=datetime.now(UTC))" in applied
    assert (
        'store.get_online_features("driver_ranking_v1", [{"driver_id": ..., "customer_id": ...}])' in applied
    )

    rows = pq.read_metadata(repo / "data" / "entity_rows.parquet").num_rows
    assert rows == 500
    displayed = _cell(cells, "training = store.get_training_set(")
    assert any("text/html" in o.get("data", {}) for o in displayed.outputs), "a training set displays as HTML"
    assert "training set: 500 rows, 11 columns" in _text(_cell(cells, "frame = training.to_polars()"))

    profile = _text(_cell(cells, "def summary(profiles):"))
    for feature in ("conv_rate", "acc_rate", "current_balance", "tier", "trips_together"):
        assert feature in profile

    materialized = _text(_cell(cells, "materialized = store.materialize("))
    assert "driver_hourly_stats" in materialized
    assert "customer_profile" in materialized

    online = _text(_cell(cells, "online = store.get_online_features("))
    assert "1001" in online
    assert "5002" in online
    assert "conv_rate" in online
    statuses = _text(_cell(cells, "online.statuses()"))
    assert "'conv_rate': ['PRESENT', 'PRESENT']" in statuses

    stats = _text(_cell(cells, 'summary(store.stats("driver_hourly_stats"))'))
    assert "conv_rate" in stats
    assert "avg_daily_trips" in stats

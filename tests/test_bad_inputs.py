"""Every bad input is one clear error (one of the project's exceptions, naming what, where and the fix),
raised before anything is written; on the command line it is one red line and a non-zero exit.

Each test starts from a good, applied repo, breaks one thing, and checks the message and that the files
the store keeps (registry, state, online store) still hold their previous bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from tests.pit_repo import make_repo, write_definitions

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

T = datetime(2024, 1, 1, 12)
STATS = pa.table(
    {
        "driver_id": pa.array([1, 2], pa.int64()),
        "ts": pa.array([T, T], pa.timestamp("us")),
        "conv_rate": pa.array([0.5, 0.25], pa.float64()),
        "trips": pa.array([3, 4], pa.int64()),
    }
)
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

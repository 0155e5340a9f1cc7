"""The README's quickstart and its "In a notebook" section run as written, in an empty folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks(section: str) -> list[str]:
    """The ```python blocks of the README section headed ``## <section>``."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


def test_the_quickstart_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data, definitions, offline, online = _python_blocks("Quickstart")
    assert "FeatureView(" in definitions
    namespace: dict[str, object] = {}
    exec(compile(data, "README quickstart: data", "exec"), namespace)
    Path("definitions/drivers.py").write_text(definitions)
    exec(compile(offline, "README quickstart: training set", "exec"), namespace)
    exec(compile(online, "README quickstart: online", "exec"), namespace)

    # The values the README's comments show, from the four rows the data block wrote.
    training = namespace["training"].to_polars()  # type: ignore[attr-defined]
    assert training["conv_rate"].to_list() == [0.52, 0.69]  # 1001 as of 2 h ago: its row of 3 h ago
    assert training["trips_today"].to_list() == [4, 12]
    assert namespace["applied"].next_steps[0].startswith("store.materialize(")  # type: ignore[attr-defined]
    assert namespace["online"].to_dict() == {  # type: ignore[attr-defined]
        "driver_id": [1001, 1003],
        "conv_rate": [0.55, None],
        "trips_today": [6, None],
    }

    (notebook,) = _python_blocks("In a notebook")
    for line in notebook.strip().splitlines():  # each line as a notebook cell, its value displayed
        exec(compile(line, "README: In a notebook", "single"), namespace)
    store = namespace["store"]
    assert store.plan().empty  # type: ignore[attr-defined]
    assert namespace["profile"]["conv_rate"].mean == pytest.approx(0.605)  # type: ignore[index]
    assert store.stats("driver_stats")["conv_rate"].count == 2  # type: ignore[attr-defined]

"""Golden SQL files: what a renderer produces for a hand-built plan, one file per case and dialect.

``tests/golden/<dialect>/<case>.sql`` holds the expected text. ``check_golden`` compares; run pytest with
``--update-golden`` to rewrite the files from the renderer (then review the diff like any change).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def golden_path(dialect: str, case: str) -> Path:
    """Where the expected SQL of ``case`` in ``dialect`` lives."""
    return HERE / dialect / f"{case}.sql"


def check_golden(config: pytest.Config, dialect: str, case: str, sql: str) -> None:
    """Compare ``sql`` with its golden file (or rewrite the file under ``--update-golden``)."""
    path = golden_path(dialect, case)
    text = sql.rstrip("\n") + "\n"
    if config.getoption("update_golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}: run pytest with --update-golden, then review and commit it")
    expected = path.read_text()
    if expected != text:
        import difflib

        lines = difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered")
        diff = "".join(lines)
        pytest.fail(f"rendered SQL differs from {path} (rerun with --update-golden if intended):\n{diff}")

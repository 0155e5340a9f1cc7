"""Shared fixtures: a copy of the example repo with its generated data."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures: a private PostgreSQL)

ROOT = Path(__file__).resolve().parent.parent


def copy_example_repo(target: Path, **sizes: Any) -> Path:
    """``definitions/`` copied to ``target`` with small generated data."""
    shutil.copytree(
        ROOT / "definitions", target / "definitions", ignore=shutil.ignore_patterns("__pycache__")
    )
    sys.path.insert(0, str(ROOT / "definitions"))
    try:
        import _generate  # the example repo's deterministic data generator
    finally:
        sys.path.remove(str(ROOT / "definitions"))
    _generate.generate(target, **sizes)
    return target


@pytest.fixture(scope="session")
def example_repo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example_repo(tmp_path_factory.mktemp("example"), days=5, drivers=30, customers=100, rows=2000)


@pytest.fixture
def example_repo(example_repo_template: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy (tests may apply, edit and break it)."""
    target = tmp_path / "repo"
    shutil.copytree(example_repo_template, target)
    return target


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/<dialect>/*.sql from the renderers instead of comparing",
    )

"""help() on the public names is short, starts with an example and points to the README."""

from __future__ import annotations

import inspect
import pydoc
from pathlib import Path

import pytest

import featurestore
from featurestore import FileSource
from featurestore.retrieve.online import OnlineResponse
from featurestore.retrieve.training import TrainingSet

PUBLIC = [getattr(featurestore, name) for name in featurestore.__all__] + [TrainingSet, OnlineResponse]


def _help(obj: object) -> list[str]:
    return pydoc.render_doc(obj, renderer=pydoc.plaintext).splitlines()


def test_help_of_a_source_is_its_own_docstring_not_pydantic() -> None:
    lines = _help(FileSource)
    assert len(lines) < 60  # 557 lines before pydantic's names were left out of dir()
    first_example = next(i for i, line in enumerate(lines) if ">>>" in line)
    assert first_example < 10
    assert not any("model_dump" in line or "__pydantic" in line for line in lines)
    assert hasattr(FileSource, "model_dump")  # hidden from help(), still there


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda o: o.__name__)
def test_public_names_have_an_example_and_point_to_the_readme(obj: object) -> None:
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc
    assert 'README: "' in doc
    assert len(_help(obj)) < 200


def test_no_docstring_points_to_a_design_file() -> None:
    package = Path(featurestore.__file__).parent
    mentions = [p for p in package.rglob("*.py") if "DESIGN" in p.read_text()]
    assert mentions == []

"""``[offline]`` as a union on ``engine``: DuckDB by default, Spark by name, clear errors otherwise.
(No Spark session needed.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.config import DuckDBConfig, SparkConfig, load_config
from featurestore.errors import ConfigError


def _load(tmp_path: Path, text: str) -> object:
    (tmp_path / "featurestore.toml").write_text(text)
    return load_config(tmp_path).offline


def test_an_offline_section_without_engine_is_duckdb(tmp_path: Path) -> None:
    assert _load(tmp_path, '[offline]\nmemory_limit = "2GB"\n') == DuckDBConfig(memory_limit="2GB")
    assert _load(tmp_path, "") == DuckDBConfig()


def test_the_spark_engine_is_chosen_by_name_with_its_conf_as_given(tmp_path: Path) -> None:
    text = '[offline]\nengine = "spark"\nmaster = "local[2]"\nconf = { "spark.executor.memory" = "2g" }\n'
    assert _load(tmp_path, text) == SparkConfig(
        engine="spark", master="local[2]", conf={"spark.executor.memory": "2g"}
    )
    remote = _load(tmp_path, '[offline]\nengine = "spark"\nremote = "sc://spark.internal:15002"\n')
    assert isinstance(remote, SparkConfig)
    assert remote.remote == "sc://spark.internal:15002"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[offline]\nengine = "sparkle"\n',
            r"offline: engine = 'sparkle' is not an engine; known: duckdb, spark",
        ),
        (
            '[offline]\nengine = "spark"\nmaster = "local[2]"\nremote = "sc://h:15002"\n',
            r"offline: both master = 'local\[2\]' and remote = 'sc://h:15002' are set; keep one",
        ),
        ('[offline]\nengine = "spark"\nremote = "spark://h:7077"\n', r"is not a Spark Connect URL"),
        ('[offline]\nengine = "spark"\nmemory_limit = "4GB"\n', r"offline\.memory_limit: Extra inputs"),
    ],
    ids=["unknown engine", "master and remote", "remote not sc://", "a DuckDB key on Spark"],
)
def test_bad_offline_sections_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)

"""The environment in ``featurestore.toml``: ``${VAR}`` references and ``FEATURESTORE_<SECTION>_<SETTING>``
overrides (``featurestore/config_env.py``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from featurestore.config import load_config
from featurestore.errors import ConfigError

TOML = """
project = "rides"

[online]
type = "redis"
url = "redis://${FS_TEST_HOST}:${FS_TEST_PORT:-6379}/0"
password_env = "PRICE$$_PASSWORD"

[materialize]
batch_size = 1000
"""


def write(root: Path, text: str = TOML) -> Path:
    (root / "featurestore.toml").write_text(text)
    return root


def test_references_expand_with_defaults_and_a_literal_dollar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FS_TEST_HOST", "cache.internal")
    monkeypatch.delenv("FS_TEST_PORT", raising=False)
    config = load_config(write(tmp_path))
    assert config.online.url == "redis://cache.internal:6379/0"  # type: ignore[union-attr]
    assert config.online.password_env == "PRICE$_PASSWORD"  # type: ignore[union-attr]
    monkeypatch.setenv("FS_TEST_PORT", "7000")
    assert load_config(tmp_path).online.url == "redis://cache.internal:7000/0"  # type: ignore[union-attr]


def test_a_missing_variable_names_the_file_the_setting_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FS_TEST_HOST", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path))
    message = str(caught.value)
    assert "featurestore.toml: online.url" in message
    assert "${FS_TEST_HOST}" in message
    assert "${FS_TEST_HOST:-value}" in message


def test_every_setting_has_an_override_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_TEST_HOST", "h")
    monkeypatch.setenv("FEATURESTORE_PROJECT", "staging")
    monkeypatch.setenv("FEATURESTORE_MATERIALIZE_BATCH_SIZE", "250")  # a TOML integer
    monkeypatch.setenv("FEATURESTORE_MATERIALIZE_LOOKBACK", "2h")  # a string
    monkeypatch.setenv("FEATURESTORE_OFFLINE_MEMORY_LIMIT", "1GB")  # a section the file lacks
    monkeypatch.setenv("FEATURESTORE_LOG_LEVEL", "info")  # not a setting of featurestore.toml
    config = load_config(write(tmp_path))
    assert config.project == "staging"
    assert config.materialize.batch_size == 250
    assert config.materialize.lookback == timedelta(hours=2)
    assert config.offline.memory_limit == "1GB"  # type: ignore[union-attr]


def test_an_inline_table_overrides_the_spark_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURESTORE_OFFLINE_ENGINE", "spark")
    monkeypatch.setenv("FEATURESTORE_OFFLINE_CONF", '{ "spark.sql.shuffle.partitions" = "8" }')
    config = load_config(write(tmp_path, 'project = "p"\n'))
    assert config.offline.engine == "spark"
    assert config.offline.conf == {"spark.sql.shuffle.partitions": "8"}  # type: ignore[union-attr]


def test_a_misspelt_override_is_an_error_listing_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEATURESTORE_MATERIALIZE_BATCHSIZE", "10")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, 'project = "p"\n'))
    message = str(caught.value)
    assert "$FEATURESTORE_MATERIALIZE_BATCHSIZE" in message
    assert "batch_size" in message


def test_a_bad_override_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURESTORE_MATERIALIZE_BATCH_SIZE", "0")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, 'project = "p"\n'))
    assert "$FEATURESTORE_MATERIALIZE_BATCH_SIZE (it overrides materialize.batch_size)" in str(caught.value)


def test_a_shared_registry_needs_a_named_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURESTORE_REGISTRY_URL", "postgresql://fs@db:5432/features")
    with pytest.raises(ConfigError, match=r"project must be named: add project = \"<name>\""):
        load_config(tmp_path)
    monkeypatch.setenv("FEATURESTORE_PROJECT", "rides")
    config = load_config(tmp_path)
    assert (config.project, config.registry.scheme) == ("rides", "postgresql")


@pytest.mark.parametrize(
    ("section", "text", "message"),
    [
        (
            "registry",
            'url = "mysql://fs:secret@db/features"',
            r"'mysql://\*\*\*@db/features' is not a registry URL",
        ),
        ("storage", 'url = "gs://bucket/prefix"', r"storage is a local folder or s3://bucket/prefix; gs://"),
        ("storage", 'url = "s3://"', r"names no bucket"),
        ("storage", 'endpoint = "127.0.0.1:8333"', r"endpoint '127.0.0.1:8333' must start with http://"),
        ("registry", 'refresh = "soon"', r"duration 'soon' is not like"),
    ],
)
def test_bad_registry_and_storage_settings_are_refused_without_echoing_secrets(
    tmp_path: Path, section: str, text: str, message: str
) -> None:
    (tmp_path / "featurestore.toml").write_text(f'project = "p"\n[{section}]\n{text}\n')
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(tmp_path)
    assert "secret" not in str(caught.value)

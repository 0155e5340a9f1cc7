"""The environment in ``featurestore.toml``: ``${VAR}`` references, and one override variable per setting.

A string value may name environment variables: ``url = "redis://${REDIS_HOST}:6379/0"``; ``${VAR:-default}``
gives a default, ``$$`` is a literal ``$``. A variable that is not set (and has no default) is an error
naming the file, the setting and the variable.

Every setting can be overridden by ``FEATURESTORE_<SECTION>_<SETTING>`` (``FEATURESTORE_PROJECT`` for the
project), for example ``FEATURESTORE_OFFLINE_MEMORY_LIMIT=8GB`` or
``FEATURESTORE_MATERIALIZE_BATCH_SIZE=50000``.
A value that reads as a TOML value (a number, ``true``, an inline table ``{ a = "b" }``) is taken as one,
anything else as a string. A variable naming no setting of its section is an error (a typo never passes
silently).

>>> expand({"online": {"url": "redis://${HOST:-localhost}:6379"}}, "featurestore.toml", {})
{'online': {'url': 'redis://localhost:6379'}}
>>> setting_value("50000"), setting_value("8GB"), setting_value("true")
(50000, '8GB', True)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

from featurestore.errors import ConfigError

PREFIX = "FEATURESTORE_"
SECTIONS = ("offline", "online", "materialize", "registry", "storage")
# Variables of the same prefix that are not settings of featurestore.toml (logs, the server's token).
NOT_SETTINGS = ("FEATURESTORE_LOG_", "FEATURESTORE_SERVER_")
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_text(text: str, where: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{where}: ${{{name}}} names an environment variable that is not set; set it, or give a "
            f"default: ${{{name}:-value}}"
        )

    return _REFERENCE.sub(one, text)


def expand(data: Any, path: str, env: Mapping[str, str], key: str = "") -> Any:
    """``data`` (parsed TOML) with ``${VAR}`` references in its strings replaced from ``env``."""
    if isinstance(data, str):
        return _expand_text(data, f"{path}: {key}", env)
    if isinstance(data, dict):
        return {k: expand(v, path, env, f"{key}.{k}" if key else k) for k, v in data.items()}
    if isinstance(data, list):
        return [expand(v, path, env, f"{key}[{i}]") for i, v in enumerate(data)]
    return data


def setting_value(text: str) -> Any:
    """An override's value: a TOML value when it reads as one, else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def overrides(env: Mapping[str, str], fields: Mapping[str, frozenset[str]]) -> dict[str, dict[str, Any]]:
    """Section -> {setting: value} from ``FEATURESTORE_<SECTION>_<SETTING>`` variables (``""`` is the
    top level: ``FEATURESTORE_PROJECT``). ``fields``: the settings each section knows."""
    found: dict[str, dict[str, Any]] = {}
    for name, text in sorted(env.items()):
        if not name.startswith(PREFIX) or name.startswith(NOT_SETTINGS):
            continue
        rest = name[len(PREFIX) :].lower()
        if rest in fields.get("", frozenset()):
            found.setdefault("", {})[rest] = setting_value(text)
            continue
        section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            continue  # not a setting's variable (another tool's, or one this version does not know)
        setting = rest[len(section) + 1 :]
        known = fields.get(section, frozenset())
        if setting not in known:
            raise ConfigError(
                f"${name}: [{section}] has no setting {setting!r}; known: {', '.join(sorted(known))} "
                f"(set {PREFIX}{section.upper()}_<SETTING>, or unset {name})"
            )
        found.setdefault(section, {})[setting] = setting_value(text)
    return found

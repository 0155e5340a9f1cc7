"""What commands print for scripts: one JSON document on stdout (``--json``), never mixed with progress.

Every command that prints a table takes ``--json`` and prints the same facts with ``print_json``: one
document, keys that are always present (null when there is nothing), times as ISO 8601 in UTC.
Progress, warnings and logs go to stderr, so ``featurestore plan --json | jq`` always parses.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import click

JSON_HELP = "Print one JSON document to stdout instead of a table (warnings go to stderr)."
_LOGS = "featurestore.logs"  # where the group's log options meet in ``ctx.meta``


def json_option(func: Any) -> Any:
    """The ``--json`` flag, passed to the command as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(func)


def plain(value: Any) -> Any:
    """``value`` as JSON values: times as ISO 8601 in UTC (naive ones are UTC already), durations in
    seconds, bytes as hex, NaN and infinities as null (JSON has neither).

    >>> plain({"at": datetime(2024, 1, 1, 12), "ttl": timedelta(hours=1), "key": b"\\x01", "x": [1.5]})
    {'at': '2024-01-01T12:00:00+00:00', 'ttl': 3600.0, 'key': '01', 'x': [1.5]}
    >>> plain(datetime.fromisoformat("2024-01-01T14:00:00+02:00"))
    '2024-01-01T12:00:00+00:00'
    """
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def print_json(document: Any) -> None:
    """Write ``document`` to stdout as one indented JSON document."""
    click.echo(json.dumps(plain(document), indent=2, ensure_ascii=False, allow_nan=False, default=str))


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, pluralised as English does it, with thousands separators.

    >>> counted(1, "row"), counted(2, "row"), counted(1234, "entity", "entities"), counted(0, "view")
    ('1 row', '2 rows', '1,234 entities', '0 views')
    """
    word = noun if n == 1 else plural or (noun[:-1] + "ies" if noun.endswith("ty") else noun + "s")
    return f"{n:,} {word}"


def warn(message: str) -> None:
    """One yellow warning line on stderr (stdout may be a JSON document)."""
    from rich.markup import escape

    from featurestore.cli.app import console

    console(stderr=True).print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def log_options(func: Any) -> Any:
    """``--log-level`` and ``--log-format`` for the command group; they configure logging as they are
    parsed (``featurestore.logs.configure``), before any command runs."""
    from featurestore.logs import FORMATS, LEVELS

    func = click.option(
        "--log-format",
        type=click.Choice(FORMATS),
        default="text",
        show_default=True,
        envvar="FEATURESTORE_LOG_FORMAT",
        expose_value=False,
        callback=_configure_logs,
        help="Log lines as text, or as JSON lines (time, level, logger, message and the record's fields). "
        "Env: FEATURESTORE_LOG_FORMAT.",
    )(func)
    return click.option(
        "--log-level",
        type=click.Choice(LEVELS, case_sensitive=False),
        default="warning",
        show_default=True,
        envvar="FEATURESTORE_LOG_LEVEL",
        expose_value=False,
        callback=_configure_logs,
        help="Log records at this level and above go to stderr (info: one line per view per "
        "materialize run). Without this option, --log-format or the environment variables, "
        "nothing is logged: errors are the one red line. Env: FEATURESTORE_LOG_LEVEL.",
    )(func)


def _configure_logs(ctx: click.Context, param: click.Parameter, value: str) -> None:
    from featurestore.logs import configure, silence

    # Click runs one callback per option in command-line order: each records its value and
    # reconfigures, so the last one leaves both applied.
    chosen = ctx.meta.setdefault(_LOGS, {"log_level": "warning", "log_format": "text", "asked": False})
    chosen[param.name or ""] = value
    source = ctx.get_parameter_source(param.name or "")
    chosen["asked"] = chosen["asked"] or source not in (None, click.core.ParameterSource.DEFAULT)
    if chosen["asked"]:
        configure(chosen["log_level"], chosen["log_format"])
    else:
        # Nobody asked for logs: a failure reaches the user as the one red line, not twice.
        silence()

"""The server's logs: uvicorn's and ours, at one level, as text or as JSON lines.

Loggers: ``uvicorn.error`` (start, stop, protocol warnings), ``featurestore.server`` (warm-up, registry
reloads, unexpected errors), ``featurestore.feature_logging`` (write failures) and, with ``--access-log``,
``featurestore.access`` (one line per request, its fields also as JSON keys). Everything goes to stderr.
uvicorn's own access log stays off: ours carries the request's duration.

    >>> import json, logging
    >>> record = logging.LogRecord("featurestore.access", logging.INFO, "", 0, "GET /health", None, None)
    >>> record.status = 200
    >>> line = json.loads(JsonFormatter().format(record))
    >>> line["level"], line["logger"], line["message"], line["status"]
    ('INFO', 'featurestore.access', 'GET /health', 200)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

LEVELS = ("critical", "error", "warning", "info", "debug")
FORMATS = ("text", "json")
# Attributes every LogRecord has: anything else on a record came in through ``extra=`` and is a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SKIPPED = {"color_message"}  # uvicorn's copy of the message with terminal colours


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, RFC 3339), level, logger, message, worker (the process id),
    the record's extra fields, and the traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "worker": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _SKIPPED:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def log_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's ``log_config`` (applied in every worker process)."""
    if fmt == "json":
        formatter: dict[str, Any] = {"()": "featurestore.server.logs.JsonFormatter"}
    else:
        formatter = {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"}
    upper = level.upper()
    handler = {"handlers": ["stderr"], "level": upper, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"server": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "server", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": handler,
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "featurestore": handler,
        },
    }

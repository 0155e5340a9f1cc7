"""Log output for the command line and the server: the ``featurestore`` loggers, as text or JSON lines.

The core logs through ``logging.getLogger("featurestore.<module>")`` and never configures logging
itself: an application embedding the store keeps its own setup. A process that owns its output (the CLI,
a server) calls :func:`configure` once with a level and a format:

- ``text``: ``2024-01-01T12:00:00.000+00:00 INFO featurestore.materialize: materialized rates version ...``
- ``json``: one object per line, ``{"time", "level", "logger", "message", ...}`` followed by the
  record's structured fields (what the caller passed as ``extra=``), and ``exception`` when there is one.

Records go to stderr, so a command's stdout (a table, or a ``--json`` document) stays clean.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime
from typing import IO, Any, Literal

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
Format = Literal["text", "json"]

# Attributes every LogRecord has: whatever else a record carries came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _plain(value: Any) -> Any:
    """A JSON value for a field: times as ISO 8601 in UTC (naive ones are UTC), anything else as text."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, then the record's own fields.

    >>> record = logging.LogRecord("featurestore.x", logging.INFO, "", 0, "wrote %d", (3,), None)
    >>> record.created, record.rows = 0.0, 3
    >>> json.loads(JsonFormatter().format(record))  # doctest: +NORMALIZE_WHITESPACE
    {'time': '1970-01-01T00:00:00.000+00:00', 'level': 'info', 'logger': 'featurestore.x',
     'message': 'wrote 3', 'rows': 3}
    """

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        )
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=_plain, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``<time UTC> <LEVEL> <logger>: <message>``; the message carries the fields in words."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the given stream, or to whatever ``sys.stderr`` is at the time of each record (tests
    and tools replace it, and a handler holding the old one would write to a closed file)."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__()
        self._fixed = stream

    @property
    def stream(self) -> IO[str]:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass  # StreamHandler.__init__ assigns one; the property decides


def configure(
    level: str | int = "warning",
    fmt: Format | str = "text",
    *,
    logger: str = "featurestore",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send ``logger``'s records at ``level`` and above to stderr (or ``stream``) as ``fmt`` lines.

    Calling it again replaces the handler it installed (never a second copy of each line). Records
    still propagate to the root logger, so an application's own handlers see them too.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    number = level if isinstance(level, int) else logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if isinstance(h, _Handler)]:
        target.removeHandler(old)
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    target.addHandler(handler)
    target.setLevel(number)
    return handler


def silence(logger: str = "featurestore") -> None:
    """Undo :func:`configure`: nothing is printed (not even by Python's last-resort handler)."""
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if isinstance(h, _Handler | logging.NullHandler)]:
        target.removeHandler(old)
    target.addHandler(logging.NullHandler())

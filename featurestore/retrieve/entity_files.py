"""Entity rows from a file: Parquet, CSV, JSON (a list of objects) or NDJSON (one object per line),
chosen by the file's extension and read with pyarrow (never through SQL).

Relative paths are relative to the working directory, as for any path a program is given. Errors name
the file and what was expected, never the file's content: a file of the wrong kind may hold anything.

>>> file_format(Path("rows.csv.gz")), file_format(Path("rows.jsonl")), file_format(Path("rows.txt"))
('csv', 'ndjson', None)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from featurestore.errors import EntityRowsError, looks_like_column_names

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
T = TypeVar("T")
SHOWN = ".parquet, .csv, .json, .ndjson (or .jsonl)"


def file_format(path: Path) -> str | None:
    """The format of an entity rows file, by its extension (``None``: not one we read)."""
    name = path.name.lower()
    return next((fmt for ext, fmt in FORMATS.items() if name.endswith(ext)), None)


def looks_like_path(text: str) -> bool:
    """Whether a string of entity rows names a file rather than holding a SQL query: an existing file,
    or one word (no spaces, quotes, parentheses or semicolons) with a folder or an extension in it.

    >>> looks_like_path("data/x.csv"), looks_like_path("rows.parquet"), looks_like_path("SELECT 1 AS a")
    (True, True, False)
    """
    stripped = text.strip()
    if not stripped or "\n" in stripped:
        return False
    if os.path.isfile(stripped):
        return True
    if re.search(r"[\s'\"();]", stripped):
        return False
    return "/" in stripped or "\\" in stripped or re.search(r"\.[A-Za-z0-9]{1,8}$", stripped) is not None


def read_rows_file(path: Path) -> pa.Table:
    """The entity rows in ``path``; ``EntityRowsError`` naming the file for anything that stops it."""
    return _reading(path, _read)


def parquet_shape(path: Path) -> tuple[pa.Schema, int]:
    """The Arrow schema and the row count of a Parquet file of entity rows, read from its footer;
    ``EntityRowsError`` as ``read_rows_file`` raises it."""

    def shape(path: Path, fmt: str) -> tuple[pa.Schema, int]:
        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        return file.schema_arrow, file.metadata.num_rows

    return _reading(path, shape)


def _reading(path: Path, read: Callable[[Path, str], T]) -> T:
    """``read(path, format)`` after checking the file, its errors worded for entity rows."""
    import pyarrow as pa

    fmt = file_format(path)
    shown = str(path)
    if fmt is None:
        missing = "" if path.exists() else " (and it does not exist)"
        raise EntityRowsError(
            f"entity rows {shown!r} are read as a file{missing}, but its extension is not one of {SHOWN}. "
            "Save the rows in one of these formats, or pass a DataFrame or an Arrow table."
        )
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative to {os.getcwd()})"
        raise EntityRowsError(f"entity rows file {shown!r} does not exist{where}; check the path")
    if path.is_dir():
        raise EntityRowsError(f"entity rows file {shown!r} is a folder; give one {fmt} file")
    try:
        return read(path, fmt)
    except EntityRowsError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        label = {"parquet": "Parquet", "csv": "CSV", "json": "JSON", "ndjson": "NDJSON"}[fmt]
        raise EntityRowsError(
            f"entity rows file {shown!r} is not a readable {label} file ({_without_content(exc)}). Check "
            f"that it is {label} with a header of column names, or give it the extension of its format."
        ) from None


def _read(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).read()
    if fmt == "csv":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
        if not looks_like_column_names(table.column_names):
            # Whatever the first line holds becomes the column names: never echo it.
            raise EntityRowsError(
                f"entity rows file {str(path)!r}: its first line does not look like a header of column "
                f"names ({table.num_columns} column{'s' if table.num_columns != 1 else ''}). A CSV file of "
                "entity rows starts with a line naming its columns, like driver_id,event_timestamp"
            )
        return table
    import pyarrow.json as pajson

    if fmt == "json" and _first_byte(path) == b"[":
        return _read_json_list(path)
    lines: pa.Table = pajson.read_json(path)
    return lines


def _read_json_list(path: Path) -> pa.Table:
    """A JSON list of objects, read as NDJSON so that types (times too) are inferred as for NDJSON."""
    import io
    import json

    import pyarrow.json as pajson

    rows = json.loads(path.read_bytes())
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise EntityRowsError(
            f"entity rows file {str(path)!r} holds JSON that is not a list of objects; write one object "
            'per entity row, like [{"driver_id": 1001, "event_timestamp": "2024-01-01T12:00:00Z"}]'
        )
    lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
    table: pa.Table = pajson.read_json(io.BytesIO(lines))
    return table


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(256).lstrip()[:1]


def _without_content(exc: Exception) -> str:
    """A reader's error without the data it quotes: its first line, cut after the kind of problem
    (``CSV parse error: Expected 2 columns, got 1: <the row>`` keeps the first two parts), and any
    quoted value elided.

    >>> _without_content(ValueError("CSV parse error: Expected 2 columns, got 1: secret row"))
    'CSV parse error: Expected 2 columns, got 1'
    >>> _without_content(ValueError("CSV conversion error to int64: invalid value 'secret'"))
    "CSV conversion error to int64: invalid value '...'"
    """
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    kept = ": ".join(first.split(": ")[:2])
    return re.sub(r"'[^']*'", "'...'", kept)

"""Tiny feature repos for tests: definitions text plus data files written from Python lists.

>>> store = make_repo(tmp_path, VIEW_TEXT, {"data/stats.parquet": {"driver_id": [1], ...}})  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore

PRELUDE = (
    "from datetime import timedelta\n"
    "from featurestore import Entity, Feature, FeatureService, FeatureView, FileSource, "
    "SparkSource, SqlSource\n"
)

Columns = Mapping[str, Sequence[Any]]
Data = Columns | pa.Table


def utc(*parts: int) -> datetime:
    """``datetime(*parts)`` in UTC: ``utc(2024, 1, 1, 12)``."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def naive(*parts: int) -> datetime:
    """A naive ``datetime`` (which the store reads as UTC)."""
    return datetime(*parts)  # type: ignore[misc]


def table_of(
    header: Sequence[str], *body: Sequence[Any], types: Mapping[str, pa.DataType] | None = None
) -> pa.Table:
    """A table written like a table: a header tuple, then one tuple per row.

    >>> table_of(("id", "a"), (1, "x"), (2, None)).num_rows
    2
    """
    columns: dict[str, list[Any]] = {name: [] for name in header}
    for row in body:
        if len(row) != len(header):
            raise ValueError(f"row {row!r} has {len(row)} values for {len(header)} columns")
        for name, value in zip(header, row, strict=True):
            columns[name].append(value)
    return to_table(columns, types)


def to_table(data: Data, types: Mapping[str, pa.DataType] | None = None) -> pa.Table:
    """Columns given as ``{"name": [values]}`` -> an Arrow table; ``types`` pins column types.

    Aware datetimes become ``timestamp[us, UTC]``, naive ones ``timestamp[us]``.
    """
    if isinstance(data, pa.Table):
        return data
    types = types or {}
    arrays = {}
    for name, values in data.items():
        values = list(values)
        wanted = types.get(name)
        if wanted is None:
            sample = next((v for v in values if v is not None), None)
            if isinstance(sample, datetime):
                wanted = pa.timestamp("us", tz="UTC" if sample.tzinfo else None)
        arrays[name] = pa.array(values, type=wanted)
    return pa.table(arrays)


def write_data(root: Path, relative: str, data: Data, types: Mapping[str, pa.DataType] | None = None) -> Path:
    """Write one data file under ``root``: Parquet, or CSV when the name ends in ``.csv``."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    table = to_table(data, types)
    if relative.endswith(".csv"):
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def write_definitions(root: Path, definitions: str | Mapping[str, str], *, prelude: bool = True) -> None:
    """Write ``definitions/*.py``: one text (``defs.py``) or ``{"file.py": text}``."""
    folder = root / "definitions"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"defs.py": definitions} if isinstance(definitions, str) else dict(definitions)
    for name, text in files.items():
        body = textwrap.dedent(text).lstrip("\n")
        (folder / name).write_text((PRELUDE if prelude else "") + body)


def make_repo(
    root: Path,
    definitions: str | Mapping[str, str],
    data: Mapping[str, Data] | None = None,
    *,
    types: Mapping[str, pa.DataType] | None = None,
    prelude: bool = True,
    apply: bool = True,
) -> FeatureStore:
    """Write a repo (definitions + data files) into ``root``, apply it, and return its store.

    ``definitions`` get ``PRELUDE`` (timedelta and the public definition names) prepended
    unless ``prelude=False``. ``types`` pins column types in every data file that has the column.
    """
    root.mkdir(parents=True, exist_ok=True)
    write_definitions(root, definitions, prelude=prelude)
    for relative, table in (data or {}).items():
        write_data(root, relative, table, types)
    store = FeatureStore(root)
    if apply:
        store.apply()
    return store


def rows(table: pa.Table, *names: str) -> list[tuple[Any, ...]]:
    """The table's rows as tuples, in order, of ``names`` (default: every column)."""
    columns = [table.column(n).to_pylist() for n in (names or table.column_names)]
    return list(zip(*columns, strict=True))


def freeze_online_clock(monkeypatch: pytest.MonkeyPatch, instant: datetime) -> None:
    """Make the clock of materialization and of the SQLite online store read ``instant`` (naive = UTC).

    Materialization counts and skips values already expired by the wall clock; a test that
    materializes as of a fixed time in the past freezes the clock there so that its ttl boundaries stay
    hand-checkable.
    """
    import time

    import featurestore.materialize as materialize_module
    import featurestore.online.sqlite as sqlite_module

    aware = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    nanos = (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
    clock = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("__")})
    clock.time_ns = lambda: nanos
    clock.time = lambda: nanos / 1e9
    monkeypatch.setattr(sqlite_module, "time", clock)
    monkeypatch.setattr(materialize_module, "time", clock)

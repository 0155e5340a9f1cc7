"""Entity rows in a Parquet file that the engine reads itself (``capabilities.reads_entity_files``).

The join keys, row ids and times never cross into Python: the engine reads them from the file
(``EntityFileReading.register_entity_file``). Python reads the file only for what the user gets back,
the rows as given beside their features: whole for ``to_arrow``, or batch by batch beside each batch of
features (``to_batches``, ``to_parquet``), so a training set written to a file holds no more of its entity
rows in memory than a batch or two.

The rows come back exactly as ``read_rows_file`` reads them (pyarrow, the file's own Arrow schema), the
time column normalized as ``entity_rows.normalized_time`` does it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.retrieve.entity_files import read_rows_file
from featurestore.retrieve.entity_rows import PreparedRows, Slices, prepare, with_output_time

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine, EntityFileReading

BATCH_ROWS = 65_536
"""Rows per batch read beside the features (a batch of the file's, at most)."""


def engine_reads_time(schema: pa.Schema, timestamp_column: str) -> bool:
    """Whether the engine's cast of the time column is the one ``normalized_time`` makes: every time but
    nanoseconds, which are floored toward the past (an engine's cast may round or truncate)."""
    import pyarrow as pa

    kind = schema.field(timestamp_column).type
    return bool(pa.types.is_date(kind) or (pa.types.is_timestamp(kind) and kind.unit != "ns"))


@dataclass(frozen=True)
class FileRows:
    """Entity rows the engine reads from ``path``; the interface of ``PreparedRows``."""

    path: Path
    schema: pa.Schema  # the file's own
    timestamp_column: str
    key_columns: tuple[str, ...]
    row_count: int
    min_ts: datetime | None
    max_ts: datetime | None

    @staticmethod
    def of(
        engine: Engine, path: Path, schema: pa.Schema, rows: int, timestamp_column: str, keys: list[str]
    ) -> FileRows:
        """The rows of ``path``, their time range read by the engine (no row enters Python)."""
        lo, hi = _reader(engine).entity_file_times(path, timestamp_column)
        return FileRows(path, schema, timestamp_column, tuple(keys), rows, lo, hi)

    def register(self, engine: Engine, name: str) -> None:
        """Make the join keys, ``__row_id`` and ``__t`` queryable under ``name``, read by the engine."""
        _reader(engine).register_entity_file(name, self.path, self.key_columns, self.timestamp_column)

    @property
    def output_schema(self) -> pa.Schema:
        import pyarrow as pa

        index = self.schema.get_field_index(self.timestamp_column)
        return self.schema.set(index, pa.field(self.timestamp_column, pa.timestamp("us", tz="UTC")))

    def whole(self) -> pa.Table:
        """Every entity row as the output shows it."""
        return with_output_time(read_rows_file(self.path), self.timestamp_column)

    def slices(self) -> Slices:
        """The output's rows, read from the file a batch at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Without pre-buffering, which keeps every column chunk read so far (the whole file by the end:
        # 100 MB for 5M rows of two keys and a time), and on one thread, which reads no further ahead.
        file = pq.ParquetFile(self.path, pre_buffer=False)
        batches = file.iter_batches(batch_size=BATCH_ROWS, use_threads=False)
        tables = (with_output_time(pa.Table.from_batches([b]), self.timestamp_column) for b in batches)
        return Slices(tables)

    def first(self, n: int) -> PreparedRows:
        """The first ``n`` entity rows, held in memory (row ids 0..n-1, as in the file)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        file = pq.ParquetFile(self.path, pre_buffer=False)
        batches = file.iter_batches(batch_size=max(1, min(n, BATCH_ROWS)), use_threads=False)
        table = Slices(pa.Table.from_batches([b]) for b in batches).take(n) if n else None
        if table is None or table.num_rows == 0:
            table = self.schema.empty_table()
        return prepare(table, self.timestamp_column, list(self.key_columns))


def _reader(engine: Engine) -> EntityFileReading:
    reader: EntityFileReading = engine  # type: ignore[assignment]  # capabilities.reads_entity_files
    return reader

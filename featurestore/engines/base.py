"""The engine protocol: SQL text in, Arrow out."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do natively; renderers lower what it cannot."""

    dialect: str
    asof_join: bool
    streams_parquet: bool
    writes_online: bool = False
    """Each partition of a result can be written where it is computed (Spark's executors): the engine
    is also a :class:`PartitionWriting` (``materialize/executors.py`` uses it)."""
    runs_on_this_host: bool = True
    """Every worker of the engine runs on this machine (DuckDB; Spark with a ``local`` master), so it
    can reach an embedded online store's file."""
    reads_entity_files: bool = False
    """The engine can read a Parquet file of entity rows itself (the engine is also an
    :class:`EntityFileReading`): the rows never cross into Python to be joined."""
    relative_paths: bool = True
    """A relative file path inside a SQL source resolves against the repo root (DuckDB's file search
    path); where not (Spark resolves against each worker's directory), apply refuses relative paths."""


PartitionWrite = Callable[[Iterator["pa.RecordBatch"]], Mapping[str, int | bytes]]
"""Writes one partition's batches somewhere and returns what it did as named counts (and named blobs:
bytes, such as the partition's statistics). It is pickled and run where the partition is computed, so
it must be picklable (a module-level class or function)."""


class Engine(Protocol):
    capabilities: Capabilities

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable under ``name`` (no copy where possible)."""

    def unregister(self, name: str) -> None: ...

    def to_arrow(self, sql: str) -> pa.Table: ...

    def query_caller_sql(self, sql: str) -> pa.Table:
        """Run SQL from a caller (entity rows), not from definitions: it must be one read-only query over
        its own values (``engines/queries.py``), and runs where it can reach no file, no table of this
        engine and no network. Anything else raises ``QueryRefused`` before it runs."""
        ...

    def batches(self, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
        """Run ``sql`` and yield its result in batches, never holding it whole."""
        ...

    def to_parquet(self, sql: str, path: Path) -> None:
        """Stream the result of ``sql`` into a Parquet file."""

    def schema_of(self, sql: str) -> dict[str, pa.DataType]:
        """Column name -> Arrow type of a query's result, without running it: the type its values come
        back as, in canonical form (``dsl.dtypes.canonical_arrow_type``: ``string``, not ``large_string``;
        a UTC zone spelled ``UTC``)."""
        ...

    def close(self) -> None: ...


class EntityFileReading(Protocol):
    """What an engine with ``capabilities.reads_entity_files`` adds: entity rows read from their file."""

    def register_entity_file(
        self, name: str, path: Path, key_columns: Sequence[str], time_column: str
    ) -> None:
        """Make the entity rows of the Parquet file ``path`` queryable under ``name`` as a registered
        table would be: the key columns, ``__row_id`` (the row's position in the file) and ``__t`` (the
        time column, a timestamp with a unit coarser than nanoseconds or a date, as naive UTC).
        ``unregister(name)`` forgets it."""
        ...

    def entity_file_times(self, path: Path, time_column: str) -> tuple[datetime | None, datetime | None]:
        """The least and greatest time of the file's rows as ``register_entity_file`` reads them (naive
        UTC), ``None`` when the file holds no time."""
        ...


class PartitionWriting(Protocol):
    """What an engine with ``capabilities.writes_online`` adds: each partition of a result handed to a
    writer where it is computed, never gathered on the driver."""

    def write_partitions(
        self, sql: str, write: PartitionWrite, counts: Sequence[str], blobs: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Run ``sql`` and call ``write`` once per partition of its result, with that partition's Arrow
        batches; return ``counts`` summed over every partition, and for each name of ``blobs`` the list
        of every partition's bytes (for the driver to merge). Returns only once every partition
        succeeded; a partition that failed (after the engine's own retries) raises
        :class:`~featurestore.errors.MaterializationError`, naming the cause."""
        ...

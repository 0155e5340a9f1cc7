"""The engine protocol: SQL text in, Arrow out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do natively; renderers lower what it cannot."""

    dialect: str
    asof_join: bool
    streams_parquet: bool


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

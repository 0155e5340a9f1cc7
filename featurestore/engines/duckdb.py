"""The embedded DuckDB engine: memory-limited, spilling to a folder under ``.featurestore/``."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.dsl.dtypes import canonical_arrow_type
from featurestore.engines.base import Capabilities
from featurestore.engines.queries import DIALECT, QueryRefused, check_self_contained, parse_query
from featurestore.errors import ConfigError, SourceError

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.config import DuckDBConfig, StorageConfig


class DuckDBEngine:
    capabilities = Capabilities(
        dialect="duckdb", asof_join=True, streams_parquet=True, reads_entity_files=True
    )

    def __init__(self, config: DuckDBConfig, root: Path, storage: StorageConfig | None = None) -> None:
        """``storage``: the endpoint and credentials ``s3://`` paths are read with (default: the
        standard AWS environment variables)."""
        import duckdb

        self._duckdb = duckdb
        self._lock = threading.Lock()
        self._storage = storage
        self._s3_registered = False
        temp = Path(config.temp_directory)
        if not temp.is_absolute():
            temp = root / temp
        settings: dict[str, Any] = {
            "memory_limit": config.memory_limit,
            "temp_directory": str(temp),
            "TimeZone": "UTC",
            # Relative paths inside SQL sources resolve against the repo root.
            "file_search_path": str(root.resolve()),
        }
        if config.threads:
            settings["threads"] = config.threads
        self._tables: dict[str, pa.Table] = {}
        # name -> (the entity file, the CREATE TEMP VIEW each cursor runs)
        self._views: dict[str, tuple[Path, str]] = {}
        self._limits = {k: v for k, v in settings.items() if k in ("memory_limit", "threads")}
        self._con = duckdb.connect(":memory:")
        for key, value in settings.items():
            try:
                # GLOBAL: every cursor (a connection of its own) must see the UTC zone and search path.
                self._con.execute(f"SET GLOBAL {key} = ?", [value])
            except duckdb.Error as exc:
                self._con.close()
                raise _setting_error(key, value, root, exc) from None
        # ASOF needs no preserved order; ORDER BY row id restores it at the end.
        self._con.execute("SET preserve_insertion_order = false")

    def cursor(self, sql: str = "") -> Any:
        """A cursor (its own connection to the same database) that sees every registered table and the
        entity files ``sql`` names; able to read ``s3://`` paths when ``sql`` names one."""
        if "s3://" in sql:
            self._register_s3()
        cur = self._con.cursor()
        with self._lock:
            tables = list(self._tables.items())
            # Only the entity files ``sql`` names: a view reads its file's footer as it is made, and a
            # file deleted since must not break queries about anything else.
            views = [view for name, view in self._views.items() if name in sql]
        for name, table in tables:
            cur.register(name, table)
        for path, view in views:
            try:
                cur.execute(view)
            except self._duckdb.Error as exc:
                cur.close()
                raise SourceError(
                    f"the entity rows file {path} cannot be read any more ({_first_line(exc)}); it was "
                    "read when the training set was planned: restore the file, or plan the training set "
                    "again"
                ) from None
        return cur

    def _register_s3(self) -> None:
        """Read ``s3://`` through pyarrow's S3 client, wrapped as an fsspec filesystem: DuckDB's own httpfs
        extension would be downloaded at run time. Registered once, for the database and its cursors."""
        with self._lock:
            if self._s3_registered:
                return
            from fsspec.implementations.arrow import ArrowFSWrapper  # type: ignore[import-untyped]

            from featurestore.config import StorageConfig
            from featurestore.storage import s3_filesystem

            self._con.register_filesystem(ArrowFSWrapper(s3_filesystem(self._storage or StorageConfig())))
            self._s3_registered = True

    def register(self, name: str, table: pa.Table) -> None:
        # Registered Arrow data is connection-local; each cursor registers it again (zero-copy).
        with self._lock:
            self._tables[name] = table

    def register_entity_file(
        self, name: str, path: Path, key_columns: Sequence[str], time_column: str
    ) -> None:
        """Entity rows read by DuckDB from their Parquet file (``EntityFileReading``): a temporary view
        made again on each cursor, as registered tables are.

        The time is cast to ``TIMESTAMP`` in the engine's UTC session: a zoned time becomes its UTC
        wall time, a date its midnight, seconds and milliseconds exact microseconds.
        """
        keys = ", ".join(_quote_name(k) for k in key_columns)
        view = (
            f"CREATE OR REPLACE TEMP VIEW {_quote_name(name)} AS SELECT {keys}, file_row_number AS __row_id, "
            f"CAST({_quote_name(time_column)} AS TIMESTAMP) AS __t "
            f"FROM read_parquet('{_quote_path(path.resolve())}', file_row_number = true)"
        )
        with self._lock:
            self._views[name] = (path, view)

    def entity_file_times(self, path: Path, time_column: str) -> tuple[datetime | None, datetime | None]:
        """The least and greatest time of a Parquet file's entity rows, as ``register_entity_file``
        casts them (naive UTC); ``None`` when the file has no time."""
        cast = f"CAST({_quote_name(time_column)} AS TIMESTAMP)"
        sql = f"SELECT min({cast}), max({cast}) FROM read_parquet('{_quote_path(path.resolve())}')"
        cur = self.cursor()
        try:
            row = cur.execute(sql).fetchone()
        except self._duckdb.Error as exc:
            raise _source_error(exc) from exc
        finally:
            cur.close()
        lo, hi = row if row is not None else (None, None)
        return lo, hi

    def unregister(self, name: str) -> None:
        with self._lock:
            self._tables.pop(name, None)
            self._views.pop(name, None)

    def to_arrow(self, sql: str) -> pa.Table:
        cur = self.cursor(sql)
        try:
            return utc_labels(cur.sql(sql).to_arrow_table())
        except self._duckdb.Error as exc:
            raise _source_error(exc) from exc
        finally:
            cur.close()

    def query_caller_sql(self, sql: str) -> pa.Table:
        tree = parse_query(sql)
        check_self_contained(tree)
        # What runs is the checked tree, rendered again: never text the check did not see.
        checked = tree.sql(dialect=DIALECT)
        duckdb = self._duckdb
        # A connection of its own, to an empty database: no registered table, no file, no network, no
        # extension, and settings no query can change back. The check above gives the clear message;
        # this is what holds if the check and DuckDB ever read a query differently.
        con = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                **{k: str(v) for k, v in self._limits.items()},
            },
        )
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET lock_configuration = true")
            return utc_labels(con.sql(checked).to_arrow_table())
        except duckdb.PermissionException as exc:
            raise QueryRefused(f"it tried what this connection does not allow ({_first_line(exc)})") from None
        except duckdb.Error as exc:
            raise QueryRefused(f"DuckDB could not run it: {_first_line(exc)}") from None
        finally:
            con.close()

    def batches(self, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
        cur = self.cursor(sql)
        try:
            reader = cur.sql(sql).to_arrow_reader(batch_size)
            for batch in reader:
                yield utc_labels(batch)
        except self._duckdb.Error as exc:
            raise _source_error(exc) from exc
        finally:
            cur.close()

    def to_parquet(self, sql: str, path: Path) -> None:
        cur = self.cursor(sql)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            cur.execute(f"COPY ({sql}) TO '{_quote_path(tmp)}' (FORMAT parquet, COMPRESSION zstd)")
            os.replace(tmp, path)
        except self._duckdb.Error as exc:
            raise _source_error(exc) from exc
        finally:
            cur.close()
            if tmp.exists():
                tmp.unlink()

    def schema_of(self, sql: str) -> dict[str, pa.DataType]:
        cur = self.cursor(sql)
        try:
            # DuckDB's own Arrow export of an empty result: exactly the types to_arrow() returns
            # (TIMESTAMP_NS -> timestamp[ns], TIMESTAMPTZ -> timestamp[us, tz=UTC], HUGEINT ->
            # decimal128(38, 0)), read without scanning any data.
            schema = cur.sql(sql).limit(0).to_arrow_table().schema
            return {field.name: canonical_arrow_type(field.type) for field in schema}
        except self._duckdb.Error as exc:
            raise _source_error(exc) from exc
        finally:
            cur.close()

    def close(self) -> None:
        self._con.close()


def utc_labels(data: Any) -> Any:
    """Label UTC timestamps 'UTC' (DuckDB says 'Etc/UTC'): same instants, the name users expect."""
    import pyarrow as pa

    schema = data.schema
    fields = []
    changed = False
    for field in schema:
        if pa.types.is_timestamp(field.type) and field.type.tz in ("Etc/UTC", "UTC+00:00", "+00:00"):
            field = field.with_type(pa.timestamp(field.type.unit, tz="UTC"))
            changed = True
        fields.append(field)
    return data.cast(pa.schema(fields, metadata=schema.metadata)) if changed else data


def _quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _setting_error(key: str, value: object, root: Path, exc: Exception) -> ConfigError:
    """A setting DuckDB refused, named as the key of ``featurestore.toml`` it comes from."""
    from featurestore.config import CONFIG_FILE

    fixes = {
        "memory_limit": "a size like '4GB' or '50%'",
        "threads": "a number of threads >= 1",
        "temp_directory": "a folder this process may write",
    }
    if key in fixes:
        return ConfigError(
            f"{root / CONFIG_FILE}: offline.{key} = {value!r} is refused by DuckDB ({_first_line(exc)}); "
            f"set offline.{key} to {fixes[key]}"
        )
    return ConfigError(f"the DuckDB engine refused its setting {key} = {value!r}: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _source_error(exc: Exception) -> SourceError:
    # A value DuckDB quotes ("Could not convert string 'x'") is data from a file: never shown.
    first = re.sub(r"\b(string|value) '[^']*'", r"\1 '...'", _first_line(exc))
    if first.startswith("Out of Memory Error"):
        first += " (raise offline.memory_limit in featurestore.toml, or lower offline.threads)"
    return SourceError(f"the engine could not run the query: {first}")

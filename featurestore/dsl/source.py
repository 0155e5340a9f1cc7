"""Sources: where a feature view's rows come from (files, a SQL query in the engine's dialect, or a
Spark catalog table)."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from featurestore.dsl.base import Definition, check_identifier


class _SourceBase(Definition):
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier("source", value)

    @field_validator("timestamp_field", "created_timestamp_field")
    @classmethod
    def _fields(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier("timestamp column", value)

    @model_validator(mode="after")
    def _distinct_fields(self) -> _SourceBase:
        if self.created_timestamp_field == self.timestamp_field:
            raise ValueError(
                f"created_timestamp_field and timestamp_field are both {self.timestamp_field!r}; "
                "leave created_timestamp_field unset if the source has no separate created time"
            )
        return self

    def data_identity(self) -> dict[str, Any]:
        """What decides the rows this source yields (used by fingerprints)."""
        return self.model_dump(exclude={"name", "description", "tags", "owner", "defined_at"})


class FileSource(_SourceBase):
    """Rows from Parquet (one file, a glob, or a hive-partitioned folder) or CSV.

    >>> FileSource(name="trips", path="data/trips.parquet", timestamp_field="pickup_at").format
    'parquet'

    Relative paths are relative to the repo root. README: "Quickstart".
    """

    kind_label: ClassVar[str] = "FileSource"
    kind: Literal["file"] = "file"
    path: str
    file_format: Literal["parquet", "csv"] | None = None
    hive_partitioning: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("path is empty: give a Parquet/CSV file, a glob or a folder")
        return value

    @property
    def format(self) -> str:
        """``parquet`` or ``csv``: declared, or guessed from the path's extension."""
        if self.file_format:
            return self.file_format
        lowered = self.path.lower()
        return "csv" if lowered.endswith((".csv", ".csv.gz", ".tsv")) else "parquet"


DEFAULT_DIALECT = "duckdb"


class SqlSource(_SourceBase):
    """Rows from a SQL query (which may itself read files, relative to the repo root), written in
    ``dialect`` (a sqlglot dialect name, default ``"duckdb"``): it must be the engine's dialect, which
    ``apply`` checks.

    >>> SqlSource(name="s", query="SELECT 1 AS id, now() AS event_timestamp").kind
    'sql'
    >>> SqlSource(name="s", query="SELECT 1", dialect="Spark").dialect
    'spark'

    README: "Configuration" (SQL sources of the Spark engine: "Spark engine").
    """

    kind_label: ClassVar[str] = "SqlSource"
    kind: Literal["sql"] = "sql"
    query: str
    dialect: str = DEFAULT_DIALECT

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        stripped = value.strip().rstrip(";").strip()
        if not stripped:
            raise ValueError("query is empty")
        return stripped

    @field_validator("dialect")
    @classmethod
    def _dialect(cls, value: str) -> str:
        name = value.strip().lower()
        if not name.isidentifier():
            raise ValueError(
                f'dialect {value!r} is not a SQL dialect name: give the engine\'s dialect, e.g. "duckdb"'
            )
        return name

    def data_identity(self) -> dict[str, Any]:
        """As every source's; the dialect only when it is not the default, so the fingerprints of
        sources written before it existed stay the same."""
        identity = super().data_identity()
        if identity.get("dialect") == DEFAULT_DIALECT:
            del identity["dialect"]
        return identity


# ``table``, ``db.table`` or ``catalog.db.table``: plain identifiers (Spark's own quoting is not needed).
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


class SparkSource(_SourceBase):
    """Rows from a table of the Spark catalog (Hive metastore, Unity, Glue, ...): only the Spark engine
    reads it, which ``apply`` checks.

    >>> src = SparkSource(name="events", table="analytics.payments")
    >>> src.kind, src.dialect, src.query
    ('spark_table', 'spark', 'SELECT * FROM analytics.payments')

    README: "Spark engine".
    """

    kind_label: ClassVar[str] = "SparkSource"
    kind: Literal["spark_table"] = "spark_table"
    table: str

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        name = value.strip()
        if not _TABLE_NAME.match(name):
            raise ValueError(
                f"table {value!r} is not a Spark table name: write table, db.table or catalog.db.table "
                "(letters, digits and '_' in each part)"
            )
        return name

    @property
    def dialect(self) -> str:
        """The SQL dialect that reads the table: Spark's."""
        return "spark"

    @property
    def query(self) -> str:
        """The table as a query: every column (the plan prunes what a request does not need)."""
        return f"SELECT * FROM {self.table}"


Source = Annotated[FileSource | SqlSource | SparkSource, Field(discriminator="kind")]

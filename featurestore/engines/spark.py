"""The Spark engine: Spark SQL in, Arrow out; one session per process (pyspark imported lazily).

The session comes from ``[offline]`` (``engine = "spark"``): a ``master`` (``local[*]`` by default, or a
cluster URL) or a Spark Connect ``remote`` (``sc://host:15002``), with ``conf`` passed as is. Unless
``conf`` says otherwise the session runs in UTC, without the web UI, and writes Parquet timestamps as
microseconds. A session that already runs in the process is reused, and then never stopped here.

Large results never pass whole through the driver: ``batches`` and ``to_parquet`` let the executors
write Parquet into a staging folder and stream its part files in order (Spark names them by partition,
and an ``ORDER BY`` result is range-partitioned, so file order is row order). The staging folder must
be visible to the driver and the executors: true for ``local[*]``; on a cluster, name a folder on
storage both see in ``conf["featurestore.staging"]`` (the one key of ``conf`` not given to Spark).

Materialization writes from the executors (``write_partitions``): each partition of the rows query is
handed, as Arrow batches, to a picklable writer run in the executor's Python worker, which imports
featurestore there. In local mode the workers share the driver's Python environment; on a cluster,
install featurestore (with its ``redis`` extra) on every worker, in the same version as the driver.

Limits: entity rows given as caller SQL are refused (``query_caller_sql``): pass them as a table or a
file. Nanosecond source columns are refused by the renderer (``sql/spark.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.engines.base import Capabilities, PartitionWrite
from featurestore.engines.queries import QueryRefused
from featurestore.errors import ConfigError, MaterializationError, SourceError

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.config import SparkConfig, StorageConfig

STAGING_CONF = "featurestore.staging"
DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Spark's default (INT96) is read back by Arrow as nanoseconds: write what Arrow reads as written.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
# Set only when this engine starts the session (static confs cannot change on a running one).
_STARTUP_ONLY = ("spark.ui.enabled", "spark.ui.showConsoleProgress")

_lock = threading.Lock()


def is_local_master(config: SparkConfig) -> bool:
    """Whether the executors run in the driver's process (``local``, ``local[N]``, ``local[*]``,
    ``local[N, F]``), where they reach the driver's files; a cluster or Spark Connect does not.

    >>> from featurestore.config import SparkConfig
    >>> [is_local_master(SparkConfig(engine="spark", master=m)) for m in ("local[*]", "spark://h:7077")]
    [True, False]
    """
    master = config.master.strip()
    return config.remote is None and (master == "local" or master.startswith("local["))


class SparkEngine:
    capabilities = Capabilities(
        dialect="spark", asof_join=False, streams_parquet=True, writes_online=True, relative_paths=False
    )

    def __init__(self, config: SparkConfig, root: Path, storage: StorageConfig | None = None) -> None:
        """``storage``: when it is ``s3://``, the session reads ``s3://`` through Hadoop's S3A with its
        endpoint and credentials (``s3a_conf``); refused at start when hadoop-aws is not on the classpath."""
        self.capabilities = replace(SparkEngine.capabilities, runs_on_this_host=is_local_master(config))
        if storage is not None and storage.is_s3:
            config = config.model_copy(update={"conf": {**s3a_conf(storage), **config.conf}})
        self._session, self._owned = _session(config)
        if storage is not None and storage.is_s3 and config.remote is None:
            _require_s3a(self._session, storage)
        staging = config.conf.get(STAGING_CONF)
        self._staging = Path(staging) if staging else None
        self._views: set[str] = set()

    @property
    def session(self) -> Any:
        """The ``SparkSession`` this engine runs on."""
        return self._session

    def register(self, name: str, table: pa.Table) -> None:
        with quiet():
            frame = self._session.createDataFrame(_exact_times(table), schema=spark_schema(table.schema))
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def unregister(self, name: str) -> None:
        self._views.discard(name)
        with contextlib.suppress(Exception):
            self._session.catalog.dropTempView(name)

    def to_arrow(self, sql: str) -> pa.Table:
        with spark_errors(), quiet():
            table: pa.Table = self._session.sql(sql).toArrow()
        return table

    def query_caller_sql(self, sql: str) -> pa.Table:
        raise QueryRefused(
            "entity rows as SQL are not run on the Spark engine (it has no sandbox for caller SQL); pass the "
            "entity rows as a table (polars, pandas, Arrow) or a Parquet file"
        )

    def batches(self, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        with self._staged(sql) as (parts, schema):
            if not parts:
                yield from schema.empty_table().to_batches()
                return
            for part in parts:
                with pq.ParquetFile(part) as file:
                    yield from file.iter_batches(batch_size=batch_size)

    def to_parquet(self, sql: str, path: Path) -> None:
        import pyarrow.parquet as pq

        tmp = path.with_name(f".{path.name}.tmp")
        try:
            # Staged beside the target (unless a shared staging folder is set): one part moves in place.
            with self._staged(sql, self._staging or path.parent) as (parts, schema):
                if len(parts) == 1:
                    shutil.move(parts[0], tmp)
                else:
                    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                        for part in parts:
                            with pq.ParquetFile(part) as file:
                                for batch in file.iter_batches():
                                    writer.write_batch(batch)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    @contextlib.contextmanager
    def _staged(self, sql: str, base: Path | None = None) -> Iterator[tuple[list[Path], pa.Schema]]:
        """The result of ``sql`` written by Spark as Parquet part files, in row order, with its schema;
        the folder (under ``base``, the staging folder or the system's temporary one) is removed
        afterwards."""
        base = base or self._staging or Path(tempfile.gettempdir())
        folder = base / f".featurestore-spark-{uuid.uuid4().hex}"
        try:
            with spark_errors(), quiet():
                frame = self._session.sql(sql)
                schema = arrow_schema(frame.schema)
                options = {"compression": "zstd"}
                frame.write.options(**options).parquet(str(folder))
            parts = sorted(folder.glob("part-*.parquet"))
            yield parts, schema
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def write_partitions(
        self, sql: str, write: PartitionWrite, counts: Sequence[str], blobs: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Each partition of ``sql``'s result written by ``write`` in its executor (``mapInArrow``:
        Arrow batches in, one row of counts out per partition); the counts summed on the driver.

        A task Spark retries runs ``write`` again on the same rows, and only the successful attempt's
        counts are returned. Any partition failing for good fails the whole job here.
        """
        names, blob_names = tuple(counts), tuple(blobs)
        task = _PartitionTask(write, names, blob_names)
        schema = ", ".join([*(f"`{n}` long" for n in names), *(f"`{n}` binary" for n in blob_names)])
        try:
            with quiet():
                frame = self._session.sql(sql).mapInArrow(task, schema)
                result = frame.toArrow()
        except Exception as exc:
            if not _is_spark_error(exc):
                raise
            raise MaterializationError(
                f"writing from the executors failed: {worker_error(exc)}. Values written by the partitions "
                "that succeeded stay (newer wins, so running it again ends as one clean run)"
            ) from None
        done: dict[str, Any] = {n: sum(v or 0 for v in result.column(n).to_pylist()) for n in names}
        for n in blob_names:
            done[n] = [v for v in result.column(n).to_pylist() if v is not None]
        return done

    def schema_of(self, sql: str) -> dict[str, pa.DataType]:
        with spark_errors():
            schema = self._session.sql(sql).schema
        return {field.name: arrow_type(field.dataType) for field in schema.fields}

    def close(self) -> None:
        for name in list(self._views):
            self.unregister(name)
        if self._owned:
            with _lock:
                self._session.stop()


class _PartitionTask:
    """The function ``mapInArrow`` runs per partition: the writer's counts as one Arrow row."""

    def __init__(self, write: PartitionWrite, names: tuple[str, ...], blobs: tuple[str, ...] = ()) -> None:
        self.write, self.names, self.blobs = write, names, blobs

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        done = self.write(batches)
        counts = [pa.array([int(done.get(n, 0))], pa.int64()) for n in self.names]
        blobs = [pa.array([done.get(n)], pa.binary()) for n in self.blobs]
        yield pa.RecordBatch.from_arrays([*counts, *blobs], names=[*self.names, *self.blobs])


def worker_error(exc: BaseException) -> str:
    r"""The Python error raised in an executor, as its last ``Type: message`` line of the worker's
    traceback Spark forwards (Spark's first line otherwise).

    >>> text = "Job aborted\nTraceback ...\nfeaturestore.errors.OnlineStoreError: no Redis\n  at org"
    >>> worker_error(RuntimeError(text))
    'featurestore.errors.OnlineStoreError: no Redis'
    """
    found = [
        line.strip()
        for line in str(exc).splitlines()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception): ", line.strip())
    ]
    return found[-1] if found else first_line(exc)


def s3a_conf(storage: StorageConfig) -> dict[str, str]:
    """Spark settings reading ``s3://`` paths with Hadoop's S3A, from the storage's endpoint and credentials
    (``s3://`` is mapped to the S3A filesystem, so paths stay as written)."""
    from featurestore.storage.s3 import s3_settings

    settings = s3_settings(storage)
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": str(settings["region"]),
    }
    if "endpoint_override" in settings:
        conf["spark.hadoop.fs.s3a.endpoint"] = f"{settings['scheme']}://{settings['endpoint_override']}"
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(settings["scheme"] == "https").lower()
    if "access_key" in settings:
        conf["spark.hadoop.fs.s3a.access.key"] = str(settings["access_key"])
        conf["spark.hadoop.fs.s3a.secret.key"] = str(settings["secret_key"])
    return conf


def _require_s3a(session: Any, storage: StorageConfig) -> None:
    """Refuse to start when S3A (the hadoop-aws jars, which pyspark does not ship) cannot be loaded."""
    from featurestore.config import redact_url

    try:
        session._jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem")
    except Exception:
        raise ConfigError(
            f"[storage] url = {redact_url(storage.url or '')!r} needs Spark to read s3://, but Hadoop's S3A "
            "filesystem is not on its classpath (pyspark does not ship it): add the hadoop-aws jar of "
            "Spark's Hadoop version and its AWS SDK bundle to offline.conf (spark.jars or "
            "spark.jars.packages), or use the duckdb engine"
        ) from None


def _session(config: SparkConfig) -> tuple[Any, bool]:
    """The process's session: the running one (with ``conf`` applied), or a new one from ``config``."""
    with quiet():
        from pyspark.sql import SparkSession

    conf = {k: v for k, v in config.conf.items() if k != STAGING_CONF}
    with _lock:
        # The active session is per thread; a session started in another thread is reused too.
        running = SparkSession.getActiveSession() or getattr(SparkSession, "_instantiatedSession", None)
        if running is not None:
            for key, value in {**DEFAULT_CONF, **conf}.items():
                if key not in _STARTUP_ONLY:
                    with contextlib.suppress(Exception):  # a static conf: the running session keeps its own
                        running.conf.set(key, value)
            return running, False
        builder = SparkSession.builder.appName("featurestore")
        builder = builder.remote(config.remote) if config.remote else builder.master(config.master)
        for key, value in {**DEFAULT_CONF, **conf}.items():
            builder = builder.config(key, value)
        local = is_local_master(config)
        if local and "spark.pyspark.python" not in conf and not os.environ.get("PYSPARK_PYTHON"):
            # Local executors run the driver's interpreter (featurestore and its dependencies are there),
            # not whatever `python3` is first on the PATH.
            builder = builder.config("spark.pyspark.python", sys.executable)
        try:
            with quiet():
                session = builder.getOrCreate()
        except Exception as exc:
            where = config.remote or config.master
            raise ConfigError(
                f"the Spark session ({where}) could not start: {first_line(exc)}; check offline.master / "
                "offline.remote in featurestore.toml, and that Java 17+ is installed (java -version)"
            ) from None
        if local and "spark.pyspark.python" not in conf and not os.environ.get("PYSPARK_PYTHON"):
            session.sparkContext.pythonExec = sys.executable
        return session, True


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """pyspark warns that it does not yet support pandas 3 when it converts Arrow data; we hand it
    Arrow tables and never pandas frames, so the warning is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support", category=FutureWarning
        )
        yield


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def spark_errors() -> Iterator[None]:
    """Spark's errors (analysis, parse, runtime, JVM) as ``SourceError`` with Spark's first line."""
    try:
        yield
    except SourceError:
        raise
    except Exception as exc:
        if not _is_spark_error(exc):
            raise
        raise SourceError(f"the engine could not run the query: {first_line(exc)}") from exc


def _is_spark_error(exc: BaseException) -> bool:
    """An error raised by Spark: pyspark's own, or the JVM bridge's (py4j, pyspark's dependency)."""
    from pyspark.errors import PySparkException

    if isinstance(exc, PySparkException):
        return True
    return any(cls.__module__.startswith("py4j.") for cls in type(exc).__mro__)


def arrow_type(dtype: Any) -> pa.DataType:
    """The Arrow type of a Spark SQL type: timestamps are microseconds, ``TimestampType`` UTC-aware.

    >>> from pyspark.sql import types as T
    >>> arrow_type(T.TimestampType()), arrow_type(T.TimestampNTZType()), arrow_type(T.DecimalType(10, 2))
    (TimestampType(timestamp[us, tz=UTC]), TimestampType(timestamp[us]), Decimal128Type(decimal128(10, 2)))
    """
    import pyarrow as pa
    from pyspark.sql import types as T

    simple: list[tuple[type, pa.DataType]] = [
        (T.TimestampNTZType, pa.timestamp("us")),
        (T.TimestampType, pa.timestamp("us", tz="UTC")),
        (T.DateType, pa.date32()),
        (T.LongType, pa.int64()),
        (T.IntegerType, pa.int32()),
        (T.ShortType, pa.int16()),
        (T.ByteType, pa.int8()),
        (T.DoubleType, pa.float64()),
        (T.FloatType, pa.float32()),
        (T.StringType, pa.string()),
        (T.BinaryType, pa.binary()),
        (T.BooleanType, pa.bool_()),
        (T.NullType, pa.null()),
    ]
    for spark_type, arrow in simple:
        if isinstance(dtype, spark_type):
            return arrow
    if isinstance(dtype, T.DecimalType):
        return pa.decimal128(dtype.precision, dtype.scale)
    if isinstance(dtype, T.ArrayType):
        return pa.list_(arrow_type(dtype.elementType))
    if isinstance(dtype, T.StructType):
        return pa.struct([pa.field(f.name, arrow_type(f.dataType)) for f in dtype.fields])
    if isinstance(dtype, T.MapType):
        return pa.map_(arrow_type(dtype.keyType), arrow_type(dtype.valueType))
    raise SourceError(f"the Spark type {dtype.simpleString()} has no Arrow equivalent in featurestore")


def arrow_schema(schema: Any) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, arrow_type(f.dataType)) for f in schema.fields])


def spark_type(dtype: pa.DataType) -> Any:
    """The Spark SQL type an Arrow column is registered as: naive timestamps stay naive
    (``TimestampNTZType``), zoned ones are instants (``TimestampType``)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    if pa.types.is_timestamp(dtype):
        return T.TimestampType() if dtype.tz else T.TimestampNTZType()
    if pa.types.is_date(dtype):
        return T.DateType()
    if pa.types.is_decimal(dtype):
        return T.DecimalType(dtype.precision, dtype.scale)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return T.ArrayType(spark_type(dtype.value_type))
    if pa.types.is_struct(dtype):
        return T.StructType([T.StructField(f.name, spark_type(f.type)) for f in dtype])
    table = {
        pa.int64(): T.LongType(),
        pa.int32(): T.IntegerType(),
        pa.int16(): T.ShortType(),
        pa.int8(): T.ByteType(),
        pa.uint8(): T.ShortType(),
        pa.uint16(): T.IntegerType(),
        pa.uint32(): T.LongType(),
        pa.float64(): T.DoubleType(),
        pa.float32(): T.FloatType(),
        pa.string(): T.StringType(),
        pa.large_string(): T.StringType(),
        pa.binary(): T.BinaryType(),
        pa.large_binary(): T.BinaryType(),
        pa.bool_(): T.BooleanType(),
        pa.null(): T.NullType(),
    }
    if dtype in table:
        return table[dtype]
    raise SourceError(f"an Arrow column of type {dtype} cannot be registered on the Spark engine")


def spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, spark_type(f.type), f.nullable) for f in schema])


def _exact_times(table: pa.Table) -> pa.Table:
    """Timestamps in microseconds, as Spark keeps them: seconds and milliseconds widen exactly; a
    nanosecond value that is not a whole microsecond is refused, never rounded."""
    import pyarrow as pa

    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.unit != "us":
            field = field.with_type(pa.timestamp("us", tz=field.type.tz))
        fields.append(field)
    target = pa.schema(fields, metadata=table.schema.metadata)
    if target.equals(table.schema):
        return table
    try:
        return table.cast(target)
    except pa.ArrowInvalid:
        raise SourceError(
            "a nanosecond timestamp column holds values finer than a microsecond, which Spark cannot hold; "
            "truncate it to microseconds first (e.g. pyarrow.compute.floor_temporal(..., unit='microsecond'))"
        ) from None

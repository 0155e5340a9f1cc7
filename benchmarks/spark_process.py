"""What one measured Spark run costs: its Python driver plus the JVM that pyspark started, read from /proc.

Standard library only, so that both our worker (the project's interpreter) and the Feast worker (the
Feast virtualenv's interpreter) can import it. Also holds the Spark settings both are given, so that the
two Spark systems run on the same session configuration.
"""

from __future__ import annotations

import json
import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MASTER = "local[2]"
SPARK_CONF = {
    "spark.master": MASTER,
    "spark.driver.memory": "4g",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
RESULT_PREFIX = "RESULT "
_TICKS = os.sysconf("SC_CLK_TCK")


def jvm_pid(session: Any) -> int | None:
    """The pid of the JVM behind a classic (non-Connect) ``SparkSession``, or None if it is not ours."""
    proc = getattr(getattr(session.sparkContext, "_gateway", None), "proc", None)
    return getattr(proc, "pid", None)


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (the JVM may start Python workers)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(child) for child in children)
    return pids


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


@dataclass
class Meter:
    """CPU seconds and peak RSS of this process plus the JVM tree (``jvm`` None: this process only).

    >>> meter = Meter(None)
    >>> meter.cpu_seconds() >= 0 and meter.python_peak_kb() > 0
    True
    """

    jvm: int | None

    def cpu_seconds(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        jvm = sum(_cpu(pid) for pid in _tree(self.jvm)) if self.jvm else 0.0
        return usage.ru_utime + usage.ru_stime + jvm

    def python_peak_kb(self) -> int:
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a worker started by a large
        # parent would report the parent's peak.
        return _status_kb(os.getpid(), "VmHWM")

    def jvm_peak_kb(self) -> int:
        """The JVM's high-water mark (VmHWM) plus its live children's."""
        return sum(_status_kb(pid, "VmHWM") for pid in _tree(self.jvm)) if self.jvm else 0


def report(meter: Meter, seconds: float, cpu: float, rows: int, **extra: Any) -> None:
    """Print the line the parent reads: time, CPU, rows and both peaks (taken now, before anything else)."""
    line = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows": rows,
        "python_peak_kb": meter.python_peak_kb(),
        "jvm_peak_kb": meter.jvm_peak_kb(),
        **extra,
    }
    print(RESULT_PREFIX + json.dumps(line), flush=True)

"""One measured run of raw DuckDB or featurestore, in its own process (so peak RSS is its own).

Usage (by training_set.py): ``python benchmarks/ts_worker.py '<Job as JSON>'``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from ts_spec import Job, cpu_seconds, report


def _runner(job: Job) -> Callable[[], pa.Table]:
    """Do the untimed setup for ``job.system`` and return the call to time."""
    if job.system.startswith("raw-"):
        from ts_raw import run_raw

        variant = job.system.removeprefix("raw-")
        return lambda: run_raw(job.paths, variant)
    if job.system == "ours":
        from ts_ours import OursRun

        return OursRun(Path(job.scratch) / "repo", job.paths).run
    raise ValueError(f"unknown system {job.system!r}")


def main(argv: list[str]) -> None:
    job = Job.from_json(argv[1])
    run = _runner(job)
    cpu_start, start = cpu_seconds(), time.perf_counter()
    table = run()
    report(job, time.perf_counter() - start, cpu_seconds() - cpu_start, table)


if __name__ == "__main__":
    main(sys.argv)

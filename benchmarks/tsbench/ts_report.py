"""Outcomes of the measured runs, the figures table, and the README block that records it."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ts_compare import Comparison
from ts_data import Sizes

REFERENCE = "raw-dedup"
RAW_CORRECT = ("raw-dedup", "raw-struct")
LABELS = {
    "raw-dedup": "raw DuckDB: dedup + ASOF + ttl",
    "raw-struct": "raw DuckDB: ASOF on (ts, created) + ttl",
    "raw-bare": "raw DuckDB: bare ASOF (floor, not correct)",
    "ours": "featurestore",
    "feast-duckdb": "Feast 0.67, DuckDB offline store",
    "feast-file": "Feast 0.67, file (dask) offline store",
}
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"


@dataclass
class Outcome:
    """Everything measured for one system over its repetitions."""

    system: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    rows: int = 0
    error: str = ""
    comparison: Comparison | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)

    def add(self, result: dict[str, float]) -> None:
        self.seconds.append(result["seconds"])
        self.cpu_seconds.append(result["cpu_seconds"])
        self.rss_mb.append(result["peak_rss_kb"] / 1024)
        self.rows = int(result["rows"])


def _raw_limit(outcomes: dict[str, Outcome]) -> Outcome | None:
    correct = [outcomes[s] for s in RAW_CORRECT if s in outcomes and outcomes[s].seconds]
    return min(correct, key=lambda o: o.median, default=None)


def _check(outcome: Outcome) -> str:
    text = "reference" if outcome.system == REFERENCE else "-"
    if outcome.comparison:
        text = outcome.comparison.summary()
    if outcome.error:
        text += f"; a run failed: {outcome.error.splitlines()[0][:80]}"
    return text


def _row(outcome: Outcome, entity_rows: int, limit: Outcome | None) -> str:
    label = LABELS[outcome.system]
    if not outcome.seconds:
        return f"| {label} | failed | | | | | | {_check(outcome)} |"
    median, cpu = outcome.median, outcome.median_cpu
    runs = len(outcome.seconds)
    spread = f"{min(outcome.seconds):.2f}-{max(outcome.seconds):.2f}" if runs > 1 else "1 run"
    ratio = f"{median / limit.median:.2f}x" if limit else "-"
    cpu_ratio = f"{cpu / limit.median_cpu:.2f}x" if limit else "-"
    per_second = entity_rows / median / 1000
    return (
        f"| {label} | {median:.2f} ({spread}) | {cpu:.2f} | {per_second:,.0f}k | {ratio} | {cpu_ratio} "
        f"| {max(outcome.rss_mb):,.0f} | {_check(outcome)} |"
    )


def results_table(outcomes: dict[str, Outcome], entity_rows: int) -> str:
    limit = _raw_limit(outcomes)
    header = (
        "| system | median wall s (min-max) | median CPU s | entity rows/s (wall) | vs raw limit (wall) "
        "| vs raw limit (CPU) | peak RSS MB | result vs raw (dedup + ASOF) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [header, *(_row(outcome, entity_rows, limit) for outcome in outcomes.values())]
    if limit:
        lines.append(f"\nRaw limit = the faster correct raw query: {LABELS[limit.system]}.")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float:
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return kb / 1024 / 1024


def machine_line(code_label: str, load_before: float, load_after: float) -> str:
    import duckdb
    import pyarrow as pa

    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({_cpu_model()}), "
        f"{_memory_gb():.0f} GB RAM, Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"pyarrow {pa.__version__}, featurestore from {code_label}; "
        f"1-minute load average {load_before:.2f} before the run and {load_after:.2f} after it"
    )


def sizes_line(sizes: Sizes, repeat: int, once_over: float) -> str:
    return (
        f"driver_stats {sizes.driver_rows:,} rows, customer_profile {sizes.customer_rows:,} rows, "
        f"{sizes.keys:,} drivers and {sizes.keys:,} customers, {sizes.entity_rows:,} entity rows; "
        f"{repeat} repetitions per system, each in a fresh process (a system slower than "
        f"{once_over:.0f} s runs once)"
    )


def write_readme(readme: Path, report: str) -> None:
    """Replace the block between the results markers (appended when missing); the rest is kept."""
    text = readme.read_text() if readme.exists() else ""
    block = f"{RESULTS_START}\n{report}\n{RESULTS_END}"
    if RESULTS_START in text and RESULTS_END in text:
        before = text.split(RESULTS_START, 1)[0]
        after = text.split(RESULTS_END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)

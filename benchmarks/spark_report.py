"""The Spark benchmark's tables, and the README block that records them (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START, END = "<!-- spark:start -->", "<!-- spark:end -->"


@dataclass
class Run:
    """One measured subprocess: its RESULT figures, or why there are none."""

    label: str
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    check: str = "-"

    @property
    def ok(self) -> bool:
        return bool(self.figures) and "unavailable" not in self.figures

    @property
    def seconds(self) -> float:
        return float(self.figures["seconds"])

    def why_not(self) -> str:
        return self.error or str(self.figures.get("unavailable", ""))


def mb(kb: float) -> str:
    """Kilobytes as whole megabytes with thousands separators.

    >>> mb(2_097_152)
    '2,048'
    """
    return f"{kb / 1024:,.0f}"


def ratio(value: float, base: float) -> str:
    """``value / base`` as ``1.23x``.

    >>> ratio(3.0, 2.0)
    '1.50x'
    """
    return f"{value / base:.2f}x"


def training_table(runs: list[Run], rows: int) -> str:
    """Wall and CPU time of the first call in a fresh process (and of a second, warm call), peaks, check."""
    head = (
        "| system | wall s (first call) | CPU s | warm call: wall s / CPU s | entity rows/s "
        "| vs Feast on Spark "
        "(wall) | driver peak RSS MB (Python + JVM) | result vs featurestore on DuckDB |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    feast = next((r for r in runs if r.label.startswith("Feast") and r.ok), None)
    lines = []
    for run in runs:
        if not run.ok:
            lines.append(f"| {run.label} | not run: {run.why_not()[:160]} | | | | | | |")
            continue
        f = run.figures
        warm = "-"
        if f.get("warm_seconds", f["seconds"]) != f["seconds"]:
            warm = f"{f['warm_seconds']:.2f} / {f['warm_cpu_seconds']:.2f}"
        versus = ratio(feast.seconds, run.seconds) + " faster" if feast and run is not feast else "-"
        peak = (
            f"{mb(f['python_peak_kb'])} + {mb(f['jvm_peak_kb'])}"
            if f["jvm_peak_kb"]
            else mb(f["python_peak_kb"])
        )
        lines.append(
            f"| {run.label} | {run.seconds:.2f} | {f['cpu_seconds']:.2f} | {warm} | "
            f"{rows / run.seconds / 1000:,.0f}k | {versus} | {peak} | {run.check} |"
        )
    return head + "\n".join(lines)


def scaling_table(runs: list[tuple[int, int, Run]]) -> str:
    """Time per size, and its ratio to linear growth from the smallest size (1.00x: exactly linear)."""
    head = (
        "| driver_stats rows | all input rows | wall s | CPU s | ratio to linear (wall) "
        "| ratio to linear (CPU) | driver peak RSS MB (Python + JVM) |\n|---|---|---|---|---|---|---|\n"
    )
    done = [(size, total, run) for size, total, run in runs if run.ok]
    lines = []
    for size, total, run in runs:
        if not run.ok:
            lines.append(f"| {size:,} | {total:,} | not run: {run.why_not()[:120]} | | | | |")
            continue
        f, (_, base_total, base) = run.figures, done[0]
        scale = total / base_total
        lines.append(
            f"| {size:,} | {total:,} | {run.seconds:.2f} | {f['cpu_seconds']:.2f} | "
            f"{run.seconds / base.seconds / scale:.2f}x | "
            f"{f['cpu_seconds'] / base.figures['cpu_seconds'] / scale:.2f}x | "
            f"{mb(f['python_peak_kb'])} + {mb(f['jvm_peak_kb'])} |"
        )
    return head + "\n".join(lines)


def memory_table(runs: list[Run]) -> str:
    """Driver peaks of the same job at two result sizes."""
    head = (
        "| result rows | result file MB | wall s | Python driver peak RSS MB | JVM peak RSS MB |\n"
        "|---|---|---|---|---|\n"
    )
    lines = []
    for run in runs:
        if not run.ok:
            lines.append(f"| {run.label} | not run: {run.why_not()[:120]} | | | |")
            continue
        f = run.figures
        lines.append(
            f"| {f['rows']:,} | {f['result_mb']:,.1f} | {run.seconds:.2f} | {mb(f['python_peak_kb'])} | "
            f"{mb(f['jvm_peak_kb'])} |"
        )
    return head + "\n".join(lines)


def throughput_table(runs: list[Run], what: str) -> str:
    """Rows per second of a job that writes ``what`` (materialization, aggregation)."""
    head = f"| system | wall s | CPU s | {what} | per second (wall) | check |\n|---|---|---|---|---|---|\n"
    lines = []
    for run in runs:
        if not run.ok:
            lines.append(f"| {run.label} | not available: {run.why_not()[:200]} | | | | |")
            continue
        f = run.figures
        lines.append(
            f"| {run.label} | {run.seconds:.2f} | {f['cpu_seconds']:.2f} | {f['rows']:,} | "
            f"{f['rows'] / run.seconds:,.0f} | {run.check} |"
        )
    return head + "\n".join(lines)


def write_readme(readme: Path, block: str) -> None:
    """Replace the figures between the Spark markers of ``readme`` with ``block``."""
    text = readme.read_text()
    before, found, rest = text.partition(START)
    _, found_end, after = rest.partition(END)
    if not found or not found_end:
        raise SystemExit(
            f"{readme}: the markers {START} ... {END} are missing; add them to the Spark section"
        )
    readme.write_text(f"{before}{START}\n{block}\n{END}{after}")

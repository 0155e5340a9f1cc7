"""Online commands: materialize, materialize-incremental, verify (get-online: ``get_online.py``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from featurestore.cli.app import cli, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.output import counted, json_option, print_json, warn
from featurestore.errors import FeatureStoreError

if TYPE_CHECKING:
    from featurestore.feature_logging import ConsistencyMetrics
    from featurestore.verify import ViewCheck


class _When(click.ParamType):  # type: ignore[type-arg]
    """An ISO timestamp (naive = UTC), a date, or ``now``."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        from featurestore.config import parse_time

        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value), allow_now=True)
        except ValueError:
            self.fail(f"{value!r} is not an ISO timestamp like 2026-11-01T12:00:00 or 2026-11-01, or 'now'")


WHEN = _When()


def _run(
    ctx: click.Context,
    incremental: bool,
    start: datetime | None,
    end: datetime,
    views: tuple[str, ...],
    *,
    overwrite: bool = False,
    as_json: bool = False,
) -> None:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from featurestore.materialize import check_not_future, to_naive_utc

    store = open_store(ctx)
    # Refused before the progress display starts, so the error is the only line printed.
    check_not_future(to_naive_utc(end), store.config.materialize.clock_skew, "end")
    console = make_console(stderr=as_json)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} entities"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=as_json) as progress:
        tasks: dict[str, Any] = {}

        def report(view: str, written: int) -> None:
            if view not in tasks:
                tasks[view] = progress.add_task(view, total=None)
            progress.update(tasks[view], completed=written)

        if incremental:
            summary = store.materialize_incremental(end, list(views) or None, progress=report)
        else:
            summary = store.materialize(start, end, list(views) or None, overwrite=overwrite, progress=report)
    if as_json:
        for warning in summary.warnings:
            warn(warning)
        print_json(_summary_json(summary, end))
        _exit_if_stopped(summary)
        return
    table = Table(box=None)
    heads = (
        "view",
        "version",
        "run",
        "rows read",
        "skipped (null key/ts)",
        "expired (ttl)",
        "entities written",
    )
    for name in (*heads, "seconds", "entities/s"):
        table.add_column(name, justify="left" if name in ("view", "version") else "right")
    for run in summary.runs:
        rate = run.entities_written / run.seconds if run.seconds else 0.0
        version = run.version + (" (pending)" if run.pending else " (now serving)" if run.promoted else "")
        table.add_row(
            run.view,
            version,
            "" if run.run_number is None else str(run.run_number),
            f"{run.rows_read:,}",
            f"{run.rows_skipped:,}",
            f"{run.rows_expired:,}",
            f"{run.entities_written:,}",
            f"{run.seconds:.2f}",
            f"{rate:,.0f}",
        )
    console.print(table)
    for run in summary.runs:
        for note in run.notes:
            console.print(f"  [yellow]{run.view}:[/] {note}", highlight=False)
    for warning in summary.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    profiled = [r for r in summary.runs if r.profiles is not None]
    if profiled:
        console.print(
            f"  statistics of {counted(len(profiled), 'run')} kept "
            f"({sum(r.profile_seconds for r in profiled):.2f}s): "
            f"`featurestore stats {profiled[0].view}`",
            highlight=False,
        )
    deleted = (
        f", {counted(summary.values_deleted, 'value')} of replaced versions deleted"
        if summary.values_deleted
        else ""
    )
    console.print(
        f"[green]materialized[/] {counted(len(summary.runs), 'view')} up to {end.isoformat()}: "
        f"{counted(summary.entities_written, 'entity')} written, {counted(summary.rows_read, 'row')} read, "
        f"{summary.rows_skipped:,} skipped, {summary.rows_expired:,} already expired{deleted}, "
        f"{summary.seconds:.2f}s"
    )
    _exit_if_stopped(summary)


def _exit_if_stopped(summary: Any) -> None:
    """Exit 3 when a view's checks stopped its write (the other views were written)."""
    if summary.stopped:
        from featurestore.cli.app import fail

        stopped = ", ".join(summary.stopped)
        fail(f"validation stopped {stopped}: nothing of it was written (see the notes above)", code=3)


def _summary_json(summary: Any, end: datetime) -> dict[str, Any]:
    return {
        "end": end,
        "views": [
            {
                "view": r.view,
                "version": r.version,
                "status": "pending" if r.pending else "active",
                "promoted": r.promoted,
                "rows_read": r.rows_read,
                "rows_skipped": r.rows_skipped,
                "rows_expired": r.rows_expired,
                "entities_written": r.entities_written,
                "seconds": round(r.seconds, 3),
                "run": r.run_number,
                "statistics_seconds": None if r.profiles is None else round(r.profile_seconds, 3),
                "notes": r.notes,
                "stopped": r.stopped,
                "validation": None if r.validation is None else r.validation.as_dict(),
            }
            for r in summary.runs
        ],
        "warnings": summary.warnings,
        "evicted_keys": summary.evicted_keys,
        "values_deleted": summary.values_deleted,
    }


@cli.command()
@click.option("--start", type=WHEN, default=None, help="Only rows with event time >= START (default: all).")
@click.option("--end", type=WHEN, default="now", show_default=True, help="Values as of END (inclusive).")
@click.option("--view", "views", multiple=True, help="Materialize only this view (repeatable).")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Rewrite each view as of END into a fresh version that replaces the served one when complete "
    "(newer values and a later watermark are dropped): for backfills and reproductions.",
)
@json_option
@click.pass_context
def materialize(
    ctx: click.Context,
    start: datetime | None,
    end: datetime,
    views: tuple[str, ...],
    overwrite: bool,
    as_json: bool,
) -> None:
    """Write the latest value per entity (as of END) into the online store.

    Writes are newer-wins, so a rerun, a backfill or a concurrent job never replaces a newer value
    with an older one. Each view's watermark advances only once it is fully written. A view whose
    definition changed is written to its pending version, which starts serving once it has caught
    up with the active one. END may not be later than now plus [materialize] clock_skew. Rows whose
    ttl has already run out by now are counted as expired and not written. A view whose checks
    (validation rules) find an error-severity violation is not written at all; the others are.

    Exit codes: 0 = written (warnings printed), 3 = a view was stopped by its checks, 1 = any other
    failure.

    \b
    Examples:
      featurestore materialize --end now
      featurestore materialize --overwrite --end 2026-11-01T00:00:00 --view driver_stats
    """
    _run(ctx, False, start, end, views, overwrite=overwrite, as_json=as_json)


@cli.command(name="materialize-incremental")
@click.option("--end", type=WHEN, default="now", show_default=True, help="Values as of END (inclusive).")
@click.option("--view", "views", multiple=True, help="Materialize only this view (repeatable).")
@json_option
@click.pass_context
def materialize_incremental(ctx: click.Context, end: datetime, views: tuple[str, ...], as_json: bool) -> None:
    """Materialize what changed since each view's watermark, up to END.

    Rows that arrive late (event time before the watermark) are picked up through the source's
    created timestamp, or a look-back window ([materialize] lookback) when it has none. A version
    the online store does not hold (a new, flushed or switched store) is written in full, and the
    summary says so. A view whose checks find an error-severity violation is not written.

    Exit codes: 0 = written (warnings printed), 3 = a view was stopped by its checks, 1 = any other
    failure.

    \b
    Example (from a scheduler, every 15 minutes):
      featurestore materialize-incremental --end now
    """
    _run(ctx, True, None, end, views, as_json=as_json)


@cli.command()
@click.option("--sample", default=1000, show_default=True, help="Entities per view (0 = every entity).")
@click.option("--view", "views", multiple=True, help="Check only this view (repeatable).")
@click.option(
    "--from-log",
    "from_log",
    help="Replay a feature log (a Parquet file or folder written by feature logging, or an s3:// URL).",
)
@click.option(
    "--metrics-out",
    "metrics_out",
    metavar="FILE",
    help="With --from-log: write the per-row figures to FILE (.parquet or .csv), one row per (feature, "
    "logged row): service, feature, join keys, request_ts, served and offline values (as text, and as "
    "numbers for numeric features), status (match/mismatch/missing/extra) and smape.",
)
@json_option
@click.pass_context
def verify(
    ctx: click.Context,
    sample: int,
    views: tuple[str, ...],
    from_log: str | None,
    metrics_out: str | None,
    as_json: bool,
) -> None:
    """Measure online/offline consistency: every sampled entity of every view, classified.

    For each online view: read sampled entities online as of the view's watermark T, build a
    training set for the same entities stamped T, and classify each entity: match; mismatch (a
    wrong value); missing (offline has a value still valid now, online has none); expired (the
    offline value's ttl ran out by the wall clock, so it is not served); newer online (pushed after
    T). Views never materialized, or with a watermark in the future, are listed with the fix.
    Exits 1 if some view has mismatches or missing values, or a watermark in the future.
    With --from-log: recompute every logged served row offline at its request time and report per
    feature (training/serving skew) the rows that match, mismatch (both have a value, they differ),
    are missing (served none, offline has one) or extra (served one, offline has none), and for
    numbers the SMAPE |a-b| / ((|a|+|b|)/2) of each row summarised as mean, p50, p90, p99 and max.
    Exits 1 if some row does not match.

    \b
    Examples:
      featurestore verify --sample 0
      featurestore verify --view driver_hourly_stats --json
      featurestore verify --from-log .featurestore/feature_log/driver_ranking_v1
      featurestore verify --from-log .featurestore/feature_log --metrics-out skew.parquet
    """
    if from_log is not None:
        _verify_log(ctx, from_log, metrics_out, as_json)
        return
    if metrics_out is not None:
        raise FeatureStoreError(
            "--metrics-out writes the figures of a feature log's replay: give --from-log PATH with it"
        )

    checks = open_store(ctx).verify(sample or None, list(views) or None)
    # A future watermark pins values and vouches for nothing: a failure until it is rewritten.
    failed = any(c.failures or c.status == "future_watermark" for c in checks)
    if as_json:
        print_json([c.to_json() for c in checks])
        if failed:
            ctx.exit(1)
        return
    _print_checks(checks)
    if failed:
        ctx.exit(1)


_STATUS = {
    "checked": "[green]checked[/]",
    "not_materialized": "[dim]not materialized[/]",
    "future_watermark": "[yellow]future watermark[/]",
}


def _print_checks(checks: list[ViewCheck]) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = make_console()
    table = Table(box=None)
    # Names and times are never cut short: numbers give way first on a narrow terminal.
    table.add_column("view", no_wrap=True, min_width=max([4, *(len(c.view) for c in checks)]))
    table.add_column("at (UTC)", no_wrap=True, min_width=16)
    for name in ("entities", "match", "mismatch", "missing", "expired", "newer"):
        table.add_column(name, justify="right")
    table.add_column("status", no_wrap=True)
    for c in checks:
        bad = "red" if c.failures else "green"
        table.add_row(
            c.view,
            "-" if c.at is None else c.at.strftime("%Y-%m-%d %H:%M"),
            f"{c.entities:,}",
            f"{c.matches:,}",
            f"[{bad}]{c.mismatches:,}[/]",
            f"[{bad}]{c.missing:,}[/]",
            f"{c.expired:,}",
            f"{c.newer_online:,}",
            _STATUS[c.status],
        )
    console.print(table)
    if not checks:
        console.print("nothing to verify: no feature view is online")
    for c in checks:
        if c.status == "not_materialized":
            console.print(
                f"  {c.view}: never materialized in its current version; run `{c.fix}`", soft_wrap=True
            )
        elif c.status == "future_watermark":
            console.print(
                f"  {c.view}: watermark {_iso(c.at)} is later than now; fix: `{c.fix}`",
                highlight=False,
                soft_wrap=True,
            )
        for e in c.examples:
            key = ",".join(f"{k}={v}" for k, v in e["key"].items())
            text = (
                f"{key}: online {e['online']} at {_iso(e['online_event_time'])}, "
                f"offline {e['offline']} at {_iso(e['offline_event_time'])}"
            )
            # Values are data: a string feature holding "[red]" must print as itself.
            console.print(f"  {c.view} {e['kind']} {escape(text)}", highlight=False, soft_wrap=True)


def _iso(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat()


def _verify_log(ctx: click.Context, path: str, metrics_out: str | None, as_json: bool) -> None:
    from featurestore.feature_logging import write_rows
    from featurestore.feature_logging.consistency import check_format

    if metrics_out is not None:
        check_format(Path(metrics_out))  # before the replay, which may take a while
    checks = open_store(ctx).verify_log(path)
    if metrics_out is not None:
        write_rows(checks, metrics_out)
    failed = any(c.failures for c in checks)
    if as_json:
        print_json([c.to_json() for c in checks])
    else:
        _print_consistency(checks)
    if failed:
        ctx.exit(1)


def _print_consistency(checks: list[ConsistencyMetrics]) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = make_console()
    table = Table(box=None)
    table.add_column("service", no_wrap=True)
    table.add_column("feature", no_wrap=True)
    for name in ("rows", "match", "mismatch", "missing", "extra", "mismatch rate"):
        table.add_column(name, justify="right")
    for name in ("smape mean", "p50", "p90", "p99", "max"):
        table.add_column(name, justify="right")
    for c in checks:
        style = "green" if c.failures == 0 else "red"
        smape = c.smape
        figures = ["-"] * 5 if smape is None else [f"{v:.4g}" for v in (smape.mean, smape.p50, smape.p90,
                                                                          smape.p99, smape.max)]  # fmt: skip
        table.add_row(
            escape(c.service),
            escape(c.feature),
            f"{c.rows:,}",
            f"{c.matches:,}",
            f"[{style}]{c.mismatches:,}[/]",
            f"[{style}]{c.missing:,}[/]",
            f"[{style}]{c.extra:,}[/]",
            f"[{style}]{c.mismatch_rate:.4%}[/]",
            *figures,
        )
    console.print(table)
    for c in checks:
        for e in c.examples:
            key = ",".join(f"{k}={v}" for k, v in e["key"].items())
            text = f"{e['status']} {key} at {e['at']}: served {e['served']!r}, offline {e['offline']!r}"
            # Values are data: a string feature holding "[red]" must print as itself.
            console.print(f"  {escape(c.feature)} {escape(text)}", highlight=False, soft_wrap=True)

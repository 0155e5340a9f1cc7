"""Lifecycle commands: status (what is online, per view and version), promote, teardown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from featurestore.cli.app import cli, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.output import counted, json_option, print_json

if TYPE_CHECKING:
    from rich.console import Console

    from featurestore.registry.state import RunRecord
    from featurestore.store import FeatureStore


def _when(value: object) -> str:
    return "-" if value is None else str(value).replace("T", " ")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds / size:.1f}{unit}"
    return f"{sign}{seconds:.0f}s"


def _runs(store: FeatureStore, views: tuple[str, ...], limit: int) -> list[RunRecord]:
    """The last ``limit`` runs of ``views`` (all when empty), newest first."""
    if not views:
        return list(store.runs(None, limit))
    found = [run for view in views for run in store.runs(view, limit)]
    return sorted(found, key=lambda run: run.finished, reverse=True)[:limit]


def _print_runs(console: Console, runs: list[RunRecord]) -> None:
    from rich.table import Table

    if not runs:
        console.print("No completed runs recorded yet.")
        return
    table = Table(box=None, title="runs (newest first)")
    for name in (
        "run",
        "view",
        "version",
        "finished",
        "seconds",
        "rows read",
        "written",
        "watermark",
        "outcome",
    ):
        table.add_column(
            name, justify="right" if name in ("run", "seconds", "rows read", "written") else "left"
        )
    for run in runs:
        table.add_row(
            "-" if run.run is None else str(run.run),
            run.view,
            run.version[:8] + ("-" + run.version.partition("-")[2] if "-" in run.version else ""),
            _when(run.finished),
            f"{(run.finished - run.started).total_seconds():.1f}",
            "-" if run.rows_read is None else f"{run.rows_read:,}",
            f"{run.rows_written:,}",
            _when(run.watermark),
            run.outcome,
        )
    console.print(table)


@cli.command()
@click.option("--view", "views", multiple=True, help="Only this view (repeatable).")
@click.option("--no-store", is_flag=True, help="Read only the state: do not connect to the online store.")
@click.option(
    "--runs",
    "last_runs",
    type=click.IntRange(min=1),
    default=None,
    help="Also show the last N completed runs (newest first); with --json: {versions, runs}.",
)
@json_option
@click.pass_context
def status(
    ctx: click.Context, views: tuple[str, ...], no_store: bool, last_runs: int | None, as_json: bool
) -> None:
    """Show every online version per view: active, pending (being materialized) or retired.

    For each: its watermark, freshness (how far the watermark is behind now), the values the
    online store holds, whether the store still has what the state says was written, and what to
    run when something is wrong. Exits 1 when a version has a problem.

    \b
    Examples:
      featurestore status
      featurestore status --view driver_stats --json
      featurestore status --runs 10
    """
    from rich.table import Table

    store = open_store(ctx)
    rows = store.status(list(views) or None, online=not no_store)
    problems = [p for r in rows for p in r.problems]
    runs = [] if last_runs is None else _runs(store, views, last_runs)
    if as_json:
        if last_runs is None:
            print_json([r.to_json() for r in rows])
        else:
            print_json({"versions": [r.to_json() for r in rows], "runs": [run.to_json() for run in runs]})
        ctx.exit(1 if problems else 0)
    console = make_console()
    if last_runs is not None:
        _print_runs(console, runs)
    if not rows:
        console.print(
            "Nothing is materialized yet: run `featurestore apply`, then `featurestore materialize`."
        )
        return
    table = Table(box=None)
    for name in ("view", "version", "status", "watermark", "freshness", "keys online", "store", "writers"):
        table.add_column(name, justify="right" if name in ("keys online", "writers") else "left")
    for r in rows:
        fresh = r.freshness
        colour = {"active": "green", "pending": "yellow", "retired": "dim"}[r.status]
        table.add_row(
            r.view,
            r.version,
            f"[{colour}]{r.status}[/]",
            _when(r.watermark),
            _age(None if fresh is None else fresh.total_seconds()),
            "-" if r.keys is None else f"{r.keys:,}",
            r.store,
            str(r.writers),
        )
    console.print(table)
    for r in rows:
        for problem in r.problems:
            console.print(f"  [yellow]{r.view} {r.version}:[/] {problem}", highlight=False)
    if problems:
        ctx.exit(1)


@cli.command()
@click.argument("view")
@click.option("--force", is_flag=True, help="Promote even if the pending version is behind the active one.")
@click.pass_context
def promote(ctx: click.Context, view: str, force: bool) -> None:
    """Serve VIEW's pending version now, and delete the version it replaces.

    `materialize` promotes a pending version by itself once it has caught up with the active one;
    promote is for doing it explicitly (with --force, before it has caught up: reads may then miss
    values the old version had).

    \b
    Example:
      featurestore promote driver_stats
    """
    promoted, replaced = open_store(ctx).promote(view, force=force)
    was = f" (replaced {replaced.short}, whose values are deleted)" if replaced is not None else ""
    make_console().print(f"[green]promoted[/] {view} {promoted.short}: it serves now{was}")


@cli.command()
@click.option("--view", "views", multiple=True, help="Only this view (repeatable; default: every view).")
@click.option("--online", "online_only", is_flag=True, help="Remove the online values only (keep the state).")
@click.option("--state", "state_only", is_flag=True, help="Remove the state only (keep the online values).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def teardown(
    ctx: click.Context, views: tuple[str, ...], online_only: bool, state_only: bool, yes: bool
) -> None:
    """Remove this repo's online values and its state (versions, watermarks, partial states).

    Only what this repo recorded is deleted: another repo sharing the online store keeps its values.
    With --online the versions stay recorded (the next materialize is a full run); with --state the
    values stay in the store, unrecorded (nothing will delete them later).

    \b
    Examples:
      featurestore teardown --view driver_stats --yes
      featurestore teardown --online
    """
    if online_only and state_only:
        raise click.UsageError("--online and --state together mean everything: pass neither")
    store = open_store(ctx)
    what = "online values" if online_only else "state" if state_only else "online values and state"
    scope = ", ".join(views) if views else "every view"
    if not yes:
        click.confirm(f"Remove the {what} of {scope} in {store.root}?", abort=True)
    deleted, versions = store.teardown(list(views) or None, online=not state_only, state=not online_only)
    make_console().print(
        f"[green]removed[/] the {what} of {scope}: {counted(versions, 'version')}, "
        f"{counted(deleted, 'value')} deleted"
    )

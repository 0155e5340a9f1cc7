"""Lifecycle commands: status (what is online, per view and version), promote, teardown."""

from __future__ import annotations

import click

from featurestore.cli.app import cli, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.output import json_option, print_json


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


@cli.command()
@click.option("--view", "views", multiple=True, help="Only this view (repeatable).")
@click.option("--no-store", is_flag=True, help="Read only the state: do not connect to the online store.")
@json_option
@click.pass_context
def status(ctx: click.Context, views: tuple[str, ...], no_store: bool, as_json: bool) -> None:
    """Show every online version per view: active, pending (being materialized) or retired.

    For each: its watermark, freshness (how far the watermark is behind now), the values the
    online store holds, whether the store still has what the state says was written, and what to
    run when something is wrong. Exits 1 when a version has a problem.

    \b
    Examples:
      featurestore status
      featurestore status --view driver_stats --json
    """
    from rich.table import Table

    rows = open_store(ctx).status(list(views) or None, online=not no_store)
    problems = [p for r in rows for p in r.problems]
    if as_json:
        print_json([r.to_json() for r in rows])
        ctx.exit(1 if problems else 0)
    console = make_console()
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
        f"[green]removed[/] the {what} of {scope}: {versions} versions, {deleted:,} values deleted"
    )

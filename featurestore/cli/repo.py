"""Repo commands: init, plan, apply, list, describe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from featurestore.cli.app import cli, fail, open_store
from featurestore.cli.app import console as make_console
from featurestore.config import format_duration


@cli.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def init(path: Path) -> None:
    """Create a new feature repo at PATH with a working example.

    Its data ends at the current time, so the example's values are live online after
    `featurestore materialize --end now`.

    \b
    Example:
      featurestore init my_repo && cd my_repo && featurestore apply
    """
    from rich.console import Console

    from featurestore.cli.scaffold import quickstart, scaffold

    if (path / "definitions").exists():
        fail(f"{path}/definitions already exists: choose an empty folder for a new repo")
    written = scaffold(path)
    console = Console()
    for file in written:
        console.print(f"  [green]created[/] {file}")
    console.print("\nNext:")
    for command in quickstart(path):
        console.print(f"  [bold]{command}[/]", soft_wrap=True, highlight=False)


def _print_diff(diff: Any, applied: bool) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    for warning in diff.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}")
    if diff.empty:
        console.print("No changes: the registry matches the definitions.")
        return
    marks = {"added": "[green]+[/]", "removed": "[red]-[/]", "data": "[yellow]~[/]", "metadata": "[cyan]~[/]"}
    for change in diff.changes:
        what = {"data": "data change", "metadata": "metadata only"}.get(change.kind, change.kind)
        console.print(f"  {marks[change.kind]} {change.object_type} [bold]{change.name}[/]: {what}")
        if change.detail:
            console.print(f"      {escape(change.detail)}")
        if change.consequence:
            console.print(f"      [dim]online:[/] {escape(change.consequence)}")
    counts = ", ".join(
        f"{len(diff.of(k))} {k}" for k in ("added", "data", "metadata", "removed") if diff.of(k)
    )
    verb = "Applied" if applied else "Plan"
    console.print(f"{verb}: {counts}." + ("" if applied else " Run `featurestore apply` to write it."))
    if applied and diff.of("data") + diff.of("added"):
        console.print(
            "Next: `featurestore materialize` (or materialize-incremental) writes the new versions."
        )


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@cli.command()
@click.pass_context
def plan(ctx: click.Context) -> None:
    """Show what `apply` would change (added, changed, removed), without writing.

    Every changed property is shown old -> new. A data change (source, keys, features, ttl, the
    project) gives a view a new online version, served once materialized; until then the active
    version keeps serving. A metadata-only change (description, owner, tags) moves nothing.

    \b
    Example:
      featurestore plan
    """
    _print_diff(open_store(ctx).plan(), applied=False)


@cli.command()
@click.pass_context
def apply(ctx: click.Context) -> None:
    """Check definitions against their sources and write the registry (atomically).

    \b
    Example:
      featurestore apply
    """
    _print_diff(open_store(ctx).apply(), applied=True)


@cli.command(name="list")
@click.argument(
    "kind", type=click.Choice(["views", "on-demand", "services", "entities", "sources"]), default="views"
)
@click.pass_context
def list_(ctx: click.Context, kind: str) -> None:
    """List registered feature views (default), services, entities or sources.

    \b
    Example:
      featurestore list services
    """
    from rich.table import Table

    registry = open_store(ctx).registry
    table = Table(box=None)
    if kind == "views":
        for col in ("view", "entities", "features", "ttl", "source", "version"):
            table.add_column(col)
        for rv in registry.views.values():
            v = rv.view
            table.add_row(
                v.name,
                ", ".join(e.name for e in v.entities),
                ", ".join(v.feature_names),
                format_duration(v.ttl),
                v.source.name,
                rv.data_fingerprint,
            )
    elif kind == "services":
        table.add_column("service")
        table.add_column("features")
        for s in registry.services.values():
            table.add_row(s.name, ", ".join(s.feature_refs()))
    elif kind == "on-demand":
        for col in ("on-demand view", "inputs", "features", "function", "version"):
            table.add_column(col)
        for odfv in registry.on_demand_views.values():
            table.add_row(
                odfv.name,
                ", ".join(name for name, _, _ in odfv.inputs),
                ", ".join(odfv.feature_names),
                odfv.function_name,
                odfv.data_fingerprint(),
            )
    elif kind == "entities":
        table.add_column("entity")
        table.add_column("join keys")
        for e in registry.entities.values():
            table.add_row(e.name, ", ".join(e.join_keys))
    else:
        table.add_column("source")
        table.add_column("kind")
        table.add_column("where")
        for src in registry.sources.values():
            table.add_row(src.name, src.kind, getattr(src, "path", None) or getattr(src, "query", ""))
    make_console().print(table)


@cli.command()
@click.argument("name")
@click.pass_context
def describe(ctx: click.Context, name: str) -> None:
    """Show one registered object (view, service, entity or source) as JSON.

    \b
    Example:
      featurestore describe driver_hourly_stats
    """
    from featurestore.errors import UnknownObjectError, did_you_mean

    registry = open_store(ctx).registry
    found: dict[str, Any] | None = None
    if name in registry.views:
        rv = registry.views[name]
        found = {"kind": "feature view", **rv.model_dump(mode="json")}
    elif name in registry.services:
        found = {"kind": "feature service", **registry.services[name].model_dump(mode="json")}
    elif name in registry.entities:
        found = {"kind": "entity", **registry.entities[name].model_dump(mode="json")}
    elif name in registry.sources:
        found = {"kind": "source", **registry.sources[name].model_dump(mode="json")}
    elif name in registry.on_demand_views:
        found = {**registry.on_demand_views[name].model_dump(mode="json"), "kind": "on-demand feature view"}
    if found is None:
        known = [*registry.views, *registry.services, *registry.entities, *registry.sources]
        known += list(registry.on_demand_views)
        raise UnknownObjectError(f"nothing named {name!r} is registered. " + did_you_mean(name, known))
    click.echo(json.dumps(found, indent=2, default=str))

"""Repo commands: init, plan, apply, list, describe."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from featurestore.cli.app import cli, fail, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.output import json_option, print_json, warn


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
    from featurestore.cli.scaffold import quickstart, scaffold

    if (path / "definitions").exists():
        fail(f"{path}/definitions already exists: choose an empty folder for a new repo")
    written = scaffold(path)
    console = make_console()
    for file in written:
        console.print(f"  [green]created[/] {file}")
    console.print("\nNext:")
    for command in quickstart(path):
        console.print(f"  [bold]{command}[/]", soft_wrap=True, highlight=False)


def _print_diff(diff: Any, applied: bool, as_json: bool) -> None:
    if as_json:
        for warning in diff.warnings:
            warn(warning)
        print_json(_diff_json(diff, applied))
        return
    console = make_console()

    def say(text: str) -> None:
        # Whole lines, however long: a piped plan is read by scripts and reviewers, never re-wrapped.
        console.print(text, highlight=False, soft_wrap=True)

    for warning in diff.warnings:
        say(f"[bold yellow]warning:[/] {escape(warning)}")
    if not applied and diff.base_version is not None:
        base = "nothing applied yet" if not diff.base_version else "applied now"
        say(f"Against registry version {diff.base_version} ({base}).")
    if diff.empty:
        say("No changes: the registry matches the definitions.")
        return
    marks = {"added": "[green]+[/]", "removed": "[red]-[/]", "data": "[yellow]~[/]", "metadata": "[cyan]~[/]"}
    for change in diff.changes:
        what = {"data": "data change", "metadata": "metadata only"}.get(change.kind, change.kind)
        say(f"  {marks[change.kind]} {change.object_type} [bold]{escape(change.name)}[/]: {what}")
        if change.detail:
            say(f"      {escape(change.detail)}")
        if change.consequence:
            say(f"      [dim]online:[/] {escape(change.consequence)}")
    counts = ", ".join(
        f"{len(diff.of(k))} {k}" for k in ("added", "data", "metadata", "removed") if diff.of(k)
    )
    verb = "Applied" if applied else "Plan"
    expect = f" --expect-version {diff.base_version}" if diff.base_version is not None else ""
    say(f"{verb}: {counts}." + ("" if applied else f" Run `featurestore apply{expect}` to write it."))
    if applied and diff.of("data") + diff.of("added"):
        say("Next: `featurestore materialize` (or materialize-incremental) writes the new versions.")


def _diff_json(diff: Any, applied: bool) -> dict[str, Any]:
    return {
        "applied": applied,
        "changes": [
            {
                "kind": c.kind,
                "object_type": c.object_type,
                "name": c.name,
                "detail": c.detail,
                "consequence": c.consequence,
            }
            for c in diff.changes
        ],
        "counts": {k: len(diff.of(k)) for k in ("added", "data", "metadata", "removed")},
        "warnings": list(diff.warnings),
        "base_version": diff.base_version,
    }


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@cli.command()
@json_option
@click.pass_context
def plan(ctx: click.Context, as_json: bool) -> None:
    """Show what `apply` would change (added, changed, removed), without writing.

    Every changed property is shown old -> new. A data change (source, keys, features, ttl, the
    project) gives a view a new online version, served once materialized; until then the active
    version keeps serving. A metadata-only change (description, owner, tags) moves nothing.

    \b
    Examples:
      featurestore plan
      featurestore plan --json | jq '.changes[] | select(.kind == "data") | .name'
    """
    _print_diff(open_store(ctx).plan(), applied=False, as_json=as_json)


@cli.command()
@click.option(
    "--expect-version",
    type=click.IntRange(min=0),
    default=None,
    help="Fail unless the registry is still at this version (the one `plan` printed).",
)
@json_option
@click.pass_context
def apply(ctx: click.Context, expect_version: int | None, as_json: bool) -> None:
    """Check definitions against their sources and write the registry (atomically).

    The write is a compare-and-set on the registry's version: if another apply wrote since this one
    read it (or since the plan given by --expect-version), it fails and says to run plan again.

    \b
    Examples:
      featurestore apply
      featurestore plan && featurestore apply --expect-version 7
      featurestore apply --json
    """
    _print_diff(open_store(ctx).apply(expect_version=expect_version), applied=True, as_json=as_json)


@cli.command(name="list")
@click.argument(
    "kind", type=click.Choice(["views", "on-demand", "services", "entities", "sources"]), default="views"
)
@json_option
@click.pass_context
def list_(ctx: click.Context, kind: str, as_json: bool) -> None:
    """List registered feature views (default), services, entities or sources.

    \b
    Examples:
      featurestore list services
      featurestore list views --json
    """
    from rich.table import Table

    rows = _listing(open_store(ctx).registry, kind)
    if as_json:
        print_json(rows)
        return
    from featurestore.config import format_duration

    table = Table(box=None)
    for column in _COLUMNS[kind]:
        table.add_column(column)
    for row in rows:
        shown = dict(row)
        if kind == "views":
            ttl = row["ttl_seconds"]
            shown["ttl_seconds"] = format_duration(None if ttl is None else timedelta(seconds=ttl))
            del shown["online"]  # the table lists online and offline views alike, as it always has
        table.add_row(*(", ".join(v) if isinstance(v, list) else str(v) for v in shown.values()))
    make_console().print(table)


_COLUMNS = {
    "views": ("view", "entities", "features", "ttl", "source", "version"),
    "services": ("service", "features"),
    "on-demand": ("on-demand view", "inputs", "features", "function", "version"),
    "entities": ("entity", "join keys"),
    "sources": ("source", "kind", "where"),
}


def _listing(registry: Any, kind: str) -> list[dict[str, Any]]:
    """One dict per registered object of ``kind``: the JSON of `list --json`, and the table's rows."""
    if kind == "views":
        return [
            {
                "view": rv.view.name,
                "entities": [e.name for e in rv.view.entities],
                "features": list(rv.view.feature_names),
                "ttl_seconds": None if rv.view.ttl is None else rv.view.ttl.total_seconds(),
                "source": rv.view.source.name,
                "version": rv.data_fingerprint,
                "online": rv.view.online,
            }
            for rv in registry.views.values()
        ]
    if kind == "services":
        return [{"service": s.name, "features": list(s.feature_refs())} for s in registry.services.values()]
    if kind == "on-demand":
        return [
            {
                "view": odfv.name,
                "inputs": [name for name, _, _ in odfv.inputs],
                "features": list(odfv.feature_names),
                "function": odfv.function_name,
                "version": odfv.data_fingerprint(),
            }
            for odfv in registry.on_demand_views.values()
        ]
    if kind == "entities":
        return [{"entity": e.name, "join_keys": list(e.join_keys)} for e in registry.entities.values()]
    return [
        {
            "source": src.name,
            "kind": src.kind,
            "location": getattr(src, "path", None) or getattr(src, "query", ""),
        }
        for src in registry.sources.values()
    ]


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Accepted for scripts: describe always prints JSON.")
@click.pass_context
def describe(ctx: click.Context, name: str, as_json: bool) -> None:
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
    print_json(found)

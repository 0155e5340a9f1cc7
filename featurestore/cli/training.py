"""The training-set command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from featurestore.cli.app import cli, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.output import counted, print_json


@cli.command(name="training-set")
@click.option(
    "--entities",
    "entities",
    required=True,
    help="Entity rows: a file (.parquet, .csv, .json, .ndjson), or one read-only SQL query (quoted; "
    "SELECT, WITH or VALUES over no tables or files: it cannot write or reach the network).",
)
@click.option(
    "--features",
    "features",
    required=True,
    multiple=True,
    help="'view:feature' (repeatable, or comma-separated), 'view:*', or a feature service name.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the training set to this Parquet file (streamed). Without it, print a preview.",
)
@click.option(
    "--timestamp-column",
    default="event_timestamp",
    show_default=True,
    help="The entity rows' timestamp column.",
)
@click.option("--full-feature-names", is_flag=True, help="Name columns 'view__feature'.")
@click.option(
    "--as-known-at",
    is_flag=True,
    help="Also require created <= t, so values back-filled after t cannot leak.",
)
@click.option("--explain", is_flag=True, help="Print the plan and the SQL without running it.")
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also profile the feature columns (in the same pass) and save the profile to this JSON file: "
    "a reference for `featurestore drift`; a summary is printed.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a summary as one JSON document (rows, columns, schema, out, seconds) instead of a preview.",
)
@click.pass_context
def training_set(
    ctx: click.Context,
    entities: str,
    features: tuple[str, ...],
    out: Path | None,
    timestamp_column: str,
    full_feature_names: bool,
    as_known_at: bool,
    explain: bool,
    profile: Path | None,
    as_json: bool,
) -> None:
    """Build a point-in-time-correct training set for the entity rows.

    For each entity row (keys, t): the latest feature values with event time <= t, within the
    view's ttl, in input order, every input column kept.

    \b
    Examples:
      featurestore training-set --entities data/entity_rows.parquet \\
          --features driver_ranking_v1 --out training.parquet
      featurestore training-set --entities data/entity_rows.parquet \\
          --features driver_hourly_stats:conv_rate,customer_profile:tier --explain
      featurestore training-set --entities data/entity_rows.parquet \\
          --features driver_ranking_v1 --out training.parquet --json
      featurestore training-set --entities data/entity_rows.parquet \\
          --features driver_ranking_v1 --out training.parquet --profile reference.json
    """

    refs: list[str] = [r.strip() for item in features for r in item.split(",") if r.strip()]
    wanted: list[str] | str = refs[0] if len(refs) == 1 and ":" not in refs[0] else refs
    store = open_store(ctx)
    started = time.perf_counter()
    result = store.get_training_set(
        entities,
        wanted,
        full_feature_names=full_feature_names,
        timestamp_column=timestamp_column,
        as_known_at=as_known_at,
    )
    # With --json, stdout holds the summary alone: the spinner and the closing line go to stderr.
    console = make_console(stderr=as_json)
    if explain:
        click.echo(result.explain())
        return
    if out is not None:
        import pyarrow.parquet as pq

        with console.status(f"building training set for {counted(len(result), 'entity row')}..."):
            result.to_parquet(out, profile=profile is not None)
        schema = pq.read_schema(out)
        rows = pq.read_metadata(out).num_rows
    else:
        table = result.to_arrow(profile=profile is not None)
        schema, rows = table.schema, table.num_rows
    if profile is not None:
        profile_of(result, profile, console, quiet=as_json)
    seconds = time.perf_counter() - started
    if as_json:
        print_json(
            {
                "rows": rows,
                "columns": schema.names,
                "schema": {field.name: str(field.type) for field in schema},
                "out": None if out is None else str(out),
                "profile": None if profile is None else str(profile),
                "seconds": round(seconds, 3),
            }
        )
        return
    if out is not None:
        console.print(
            f"[green]wrote[/] {out}: {counted(rows, 'row')} x {counted(len(schema.names), 'column')} "
            f"in {seconds:.2f}s ({rows / max(seconds, 1e-9):,.0f} rows/s)"
        )
        return
    import polars as pl

    with pl.Config(tbl_rows=10, tbl_cols=-1, tbl_width_chars=160):
        click.echo(pl.DataFrame(table))
    console.print(f"{counted(rows, 'row')} x {counted(len(schema.names), 'column')} in {seconds:.2f}s")


def profile_of(result: Any, path: Path, console: Any, *, quiet: bool) -> None:
    """Save the training set's profile (computed already when it was written) and print its summary."""
    from featurestore.cli.stats import render_profiles

    profiles = result.profile()
    profiles.save(path)
    if not quiet:
        render_profiles(console, profiles)
        console.print(f"[green]saved[/] the profile to {path}")

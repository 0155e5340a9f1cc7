"""The validate command: the views' checks over a source, or a training set's feature checks, on demand;
exit codes a scheduler can act on."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from featurestore.cli.app import cli, fail, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.online import WHEN
from featurestore.cli.output import print_json

if TYPE_CHECKING:
    from featurestore.validation import ValidationReport

ERROR_EXIT = 3
"""The exit code of an error-severity violation (with ``--strict``, of a warning too)."""


@cli.command(name="validate")
@click.argument("views", nargs=-1)
@click.option("--end", type=WHEN, default="now", show_default=True, help="Check the rows as of END.")
@click.option(
    "--all-rows",
    is_flag=True,
    help="Check every source row up to END (RowCount counts source rows), not only the latest per entity "
    "that a materialization would write.",
)
@click.option(
    "--training-set",
    "entities",
    metavar="ENTITY_ROWS",
    help="Check a training set built for these entity rows (a file or a read-only query) instead of views.",
)
@click.option(
    "--features",
    "features",
    multiple=True,
    help="With --training-set: 'view:feature' (repeatable, or comma-separated) or a feature service name.",
)
@click.option("--strict", is_flag=True, help="Exit 3 on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.pass_context
def validate(
    ctx: click.Context,
    views: tuple[str, ...],
    end: datetime,
    all_rows: bool,
    entities: str | None,
    features: tuple[str, ...],
    strict: bool,
    as_json: bool,
) -> None:
    """Check the validation rules declared with the definitions (Between, NotNull, AllowedValues on
    features; Freshness, RowCount on views), without writing anything.

    With VIEW names (default: every view with checks): over the rows a full materialization up to
    END would write. With --training-set: the checks of the requested features over a training set.

    Exit codes: 0 = no error-severity violation (warnings printed), 3 = an error-severity violation
    (with --strict, a warning too), 1 = any other failure.

    \b
    Examples:
      featurestore validate
      featurestore validate driver_hourly_stats --end 2026-11-01T00:00:00 --all-rows --json
      featurestore validate --training-set data/entity_rows.parquet --features driver_ranking_v1
    """
    store = open_store(ctx)
    if entities is not None:
        refs = [r.strip() for item in features for r in item.split(",") if r.strip()]
        if not refs:
            fail("--training-set needs --features (a feature service or 'view:feature' references)")
        wanted: list[str] | str = refs[0] if len(refs) == 1 and ":" not in refs[0] else refs
        report = store.get_training_set(entities, wanted).validate()
    else:
        if features:
            fail("--features goes with --training-set; to check views, name them: featurestore validate VIEW")
        report = store.validate(list(views) or None, end=end, all_rows=all_rows)
    if as_json:
        print_json(report.as_dict())
    else:
        print_report(report, make_console())
    if not report.ok or (strict and report.warnings):
        raise SystemExit(ERROR_EXIT)


def print_report(report: ValidationReport, console: Any) -> None:
    """A table of the violations (rule, severity, view:feature, observed, offending keys), then a summary."""
    from rich.table import Table
    from rich.text import Text

    if report.violations:
        table = Table(box=None)
        for name in ("rule", "severity", "view:feature", "observed", "rows", "offending keys"):
            table.add_column(name, justify="right" if name == "rows" else "left")
        for v in report.violations:
            color = "red" if v.severity == "error" else "yellow"
            table.add_row(
                Text(v.rule),
                Text(v.severity, style=color),
                Text(v.target),
                Text(v.observed),
                f"{v.rows:,}" if v.rows else "",
                Text(v.keys_text()),
            )
        console.print(table)
    color = "green" if report.ok and not report.warnings else "red" if not report.ok else "yellow"
    console.print(Text(report.lines()[-1], style=color))

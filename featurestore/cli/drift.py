"""``featurestore drift``: how far current feature profiles moved from a reference, with exit codes a
scheduler acts on (0 no drift over thresholds, 3 drift, 1 bad input)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from featurestore.cli.app import cli
from featurestore.cli.output import json_option, print_json
from featurestore.errors import FeatureStoreError

if TYPE_CHECKING:
    from featurestore.stats import DriftReport, Profiles, Thresholds

DRIFTED = 3
"""The exit code when some metric is over its threshold."""


@cli.command()
@click.option(
    "--reference", required=True, metavar="FILE", help="The reference profiles (a saved profile file)."
)
@click.option(
    "--current", required=True, metavar="FILE", help="The current profiles, compared with the reference."
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="[FEATURE:]METRIC=VALUE",
    help="Set a threshold (repeatable): for every feature (psi=0.25), or one (conv_rate:ks=0.2); "
    "VALUE 'none' leaves the metric unchecked. Metrics: psi (0.2), ks (0.1), js (0.1), linf (0.1), "
    "nulls (unchecked).",
)
@json_option
@click.pass_context
def drift(
    ctx: click.Context, reference: str, current: str, thresholds: tuple[str, ...], as_json: bool
) -> None:
    """Compare two sets of feature profiles: PSI and Kolmogorov-Smirnov for numbers, Jensen-Shannon
    distance and L-infinity for strings and booleans, and the change of the null fraction.

    A FILE is a profile document (`featurestore training-set --profile FILE`, `featurestore stats VIEW
    --json > FILE`, `Profiles.save`).
    Exits 0 when no metric is over its threshold, 3 when one is (a scheduler can act on it), 1 on
    bad input.

    \b
    Examples:
      featurestore drift --reference train_profile.json --current served_profile.json
      featurestore drift --reference ref.json --current now.json --threshold psi=0.25 \\
          --threshold conv_rate:ks=none --json
    """
    from featurestore.stats import compare

    default, per_feature = parse_thresholds(thresholds)
    report = compare(_resolve(reference), _resolve(current), per_feature, default)
    if as_json:
        print_json(report.to_json())
    else:
        _print_report(report)
    if report.exceeded:
        ctx.exit(DRIFTED)


def _resolve(text: str) -> Profiles:
    """The profiles an argument of --reference / --current names: today a saved profile file."""
    from featurestore.stats import Profiles

    return Profiles.load(text)


def parse_thresholds(items: tuple[str, ...]) -> tuple[Thresholds, dict[str, Thresholds]]:
    """The default thresholds and those per feature, from ``[FEATURE:]METRIC=VALUE`` items.

    >>> default, per_feature = parse_thresholds(("psi=0.25", "rate:ks=none"))
    >>> default.psi, per_feature["rate"].ks, per_feature["rate"].psi
    (0.25, None, 0.25)
    """
    from featurestore.stats import DEFAULT

    general: dict[str, float | None] = {}
    specific: dict[str, dict[str, float | None]] = {}
    for item in items:
        target, _, setting = item.rpartition(":")
        metric, equals, raw = setting.partition("=")
        if not equals or not metric.strip():
            raise FeatureStoreError(
                f"--threshold {item!r} is not [FEATURE:]METRIC=VALUE; "
                "for example psi=0.25 or conv_rate:ks=0.2"
            )
        try:
            value = None if raw.strip().lower() == "none" else float(raw)
        except ValueError:
            raise FeatureStoreError(
                f"--threshold {item!r}: {raw!r} is not a number; give one (psi=0.25) or none"
            ) from None
        (specific.setdefault(target, {}) if target else general)[metric.strip()] = value
    default = DEFAULT.with_values(general)
    return default, {feature: default.with_values(values) for feature, values in specific.items()}


def _print_report(report: DriftReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from featurestore.cli.app import console
    from featurestore.stats.drift import METRICS

    out = console()
    table = Table(box=None, title=f"drift: {escape(report.reference)} -> {escape(report.current)}")
    table.add_column("feature", no_wrap=True)
    table.add_column("kind")
    table.add_column("rows (ref / cur)", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    table.add_column("note")
    for d in report.features:
        rows = " / ".join("-" if n is None else f"{n:,}" for n in (d.reference_rows, d.current_rows))
        cells = []
        for metric in METRICS:
            value, limit = d.metrics.get(metric), getattr(d.thresholds, metric)
            if value is None:
                cells.append("-")
            elif metric in d.exceeded:
                cells.append(f"[red]{value:.4f} > {limit:g} ✗[/]")
            else:
                cells.append(f"{value:.4f}" + ("" if limit is None else f" [dim]≤ {limit:g}[/]"))
        note = "" if d.note is None else f"[dim]{escape(d.note)}[/]"
        table.add_row(escape(d.feature), d.kind, rows, *cells, note)
    out.print(table)
    style = "red" if report.exceeded else "green"
    out.print(f"[{style}]{escape(report.summary())}[/]", highlight=False, soft_wrap=True)

"""``featurestore drift``: how far current feature profiles moved from a reference, with exit codes a
scheduler acts on (0 no drift over thresholds, 3 drift, 1 bad input)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from featurestore.cli.app import cli, open_store
from featurestore.cli.online import WHEN
from featurestore.cli.output import json_option, print_json
from featurestore.errors import FeatureStoreError

if TYPE_CHECKING:
    from featurestore.stats import DriftReport, Profiles, Thresholds

DRIFTED = 3
"""The exit code when some metric is over its threshold."""


@cli.command()
@click.option(
    "--reference",
    required=True,
    metavar="PROFILES",
    help="The reference: a saved profile FILE.json, VIEW[@RUN] or served:SERVICE[:VIEW].",
)
@click.option(
    "--current",
    required=True,
    metavar="PROFILES",
    help="The current profiles, compared with the reference (same forms).",
)
@click.option("--start", type=WHEN, default=None, help="served:...: requests at or after START.")
@click.option("--end", type=WHEN, default=None, help="served:...: requests before END.")
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
    ctx: click.Context,
    reference: str,
    current: str,
    thresholds: tuple[str, ...],
    start: datetime | None,
    end: datetime | None,
    as_json: bool,
) -> None:
    """Compare two sets of feature profiles: PSI and Kolmogorov-Smirnov for numbers, Jensen-Shannon
    distance and L-infinity for strings and booleans, and the change of the null fraction.

    A feature's `MaxDrift(...)` check sets its thresholds when a side is of its view; --threshold
    replaces them. PROFILES is a profile document FILE.json (`featurestore training-set --profile FILE`,
    `featurestore stats VIEW --json > FILE`, `Profiles.save`); VIEW or VIEW@RUN, the statistics of a
    materialization run (the newest by default; run numbers from `featurestore status --runs 10`);
    or served:SERVICE[:VIEW], what a feature service served between --start and --end, from its
    feature log (with VIEW, that view's features under their own names, as a run or a training set
    names them).
    Exits 0 when no metric is over its threshold, 3 when one is (a scheduler can act on it), 1 on
    bad input.

    \b
    Examples:
      featurestore drift --reference train_profile.json --current driver_hourly_stats
      featurestore drift --reference driver_hourly_stats@3 --current driver_hourly_stats@latest
      featurestore drift --reference train_profile.json \\
          --current served:driver_ranking_v1:driver_hourly_stats --start 2026-12-01 --end now
      featurestore drift --reference ref.json --current now.json --threshold psi=0.25 \\
          --threshold conv_rate:ks=none --json
    """
    from featurestore.stats import compare

    default, per_feature = parse_thresholds(thresholds)
    before, after = _resolve(ctx, reference, start, end), _resolve(ctx, current, start, end)
    declared = _declared(ctx, before.view or after.view)
    report = compare(before, after, {**declared, **per_feature}, default)
    if as_json:
        print_json(report.to_json())
    else:
        _print_report(report)
    if report.exceeded:
        ctx.exit(DRIFTED)


def _resolve(ctx: click.Context, text: str, start: datetime | None, end: datetime | None) -> Profiles:
    """The profiles an argument of --reference / --current names: a saved profile file (``*.json``
    or any file that exists); ``served:SERVICE`` or ``served:SERVICE:VIEW`` (what the service served
    between --start and --end, from its feature log; with VIEW, that view's features under their own
    names); else ``VIEW`` (its newest run with statistics) or ``VIEW@N`` (run N)."""
    from pathlib import Path

    from featurestore.stats import Profiles

    if text.endswith(".json") or Path(text).is_file():
        return Profiles.load(text)
    store = open_store(ctx)
    if text.startswith("served:"):
        service, _, view = text.removeprefix("served:").partition(":")
        return store.served_profile(service, start=start, end=end, view=view or None)  # type: ignore[no-any-return]
    view, _, run = text.partition("@")
    if run and run != "latest" and not run.isdigit():
        raise FeatureStoreError(
            f"{text!r} names run {run!r} of view {view!r}: give a run number (see `featurestore status "
            "--runs 10`) or 'latest'"
        )
    return store.stats(view, int(run) if run.isdigit() else None)  # type: ignore[no-any-return]


def _declared(ctx: click.Context, view: str | None) -> dict[str, Thresholds]:
    """The thresholds the view's features declare (``MaxDrift``), when a side is of a view that is
    still registered; --threshold for a feature replaces them."""
    if view is None:
        return {}
    from featurestore.materialize.statistics import declared_thresholds

    registry = open_store(ctx).registry
    if view not in registry.views:
        return {}
    return declared_thresholds(registry.view(view))


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

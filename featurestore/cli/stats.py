"""``featurestore stats``: the feature statistics of a materialization run, or of a saved profile, as a
table with a small histogram per feature; ``render_profiles`` is shared with ``training-set --profile``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from featurestore.cli.app import cli, fail, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.output import counted, json_option, print_json

if TYPE_CHECKING:
    from featurestore.stats import FeatureProfile, Profiles

BARS = " ▁▂▃▄▅▆▇█"


def sparkline(shares: list[float]) -> str:
    """Shares (fractions of the values per bin) as one character each, the fullest bin as a full bar;
    an empty bin is a space, a non-empty one at least the lowest bar.

    >>> sparkline([0.1, 0.4, 0.0, 0.5])
    '▂▆ █'
    """
    top = max(shares, default=0.0)
    if top <= 0:
        return ""
    return "".join(" " if s <= 0 else BARS[max(1, round(s / top * (len(BARS) - 1)))] for s in shares)


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}"


def _bounds(p: FeatureProfile) -> tuple[str, str]:
    if p.kind != "time" or p.minimum is None or p.maximum is None:
        return _number(p.minimum), _number(p.maximum)
    from datetime import UTC, datetime, timedelta

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    low, high = (epoch + timedelta(microseconds=int(v)) for v in (p.minimum, p.maximum))
    return low.strftime("%Y-%m-%d %H:%M:%S"), high.strftime("%Y-%m-%d %H:%M:%S")


def _shape(p: FeatureProfile, bins: int) -> str:
    """A histogram for numbers; the top values with their shares for strings and booleans."""
    if p.kind == "number":
        return sparkline([b.fraction for b in p.histogram(bins)])
    values = p.count - p.nulls
    top = p.top_values(3)
    if not top or not values:
        return ""
    return "  ".join(f"{v[:16]} {c / values:.0%}" for v, c in top)


def render_profiles(console: Any, profiles: Profiles, bins: int = 12) -> None:
    """One row per feature: count, null share, min, max, mean, stddev, median, distinct values, shape."""
    from rich.table import Table

    table = Table(title=f"{profiles.label}: {counted(profiles.rows, 'row')}", title_justify="left")
    for name in ("feature", "type", "nulls", "min", "max", "mean", "stddev", "p50", "distinct", "shape"):
        table.add_column(name, justify="right" if name not in ("feature", "type", "shape") else "left")
    for name, p in profiles.items():
        low, high = _bounds(p)
        median = p.quantiles((0.5,))
        distinct = p.distinct()
        table.add_row(
            name,
            p.dtype,
            f"{p.null_fraction:.1%}",
            low,
            high,
            _number(p.mean),
            _number(p.stddev),
            _number(median[0]) if median else "",
            "" if distinct is None else f"~{distinct.estimate:,.0f}",
            _shape(p, bins),
        )
    console.print(table)


def profiles_json(profiles: Profiles, bins: int) -> dict[str, Any]:
    """The statistics as plain JSON values (and the sketches, so the document is a saved profile)."""
    document = profiles.to_json()
    for name, p in profiles.items():
        distinct = p.distinct()
        document["features"][name]["summary"] = {
            "null_fraction": p.null_fraction,
            "quantiles": dict(
                zip(
                    ("p01", "p05", "p25", "p50", "p75", "p95", "p99"),
                    p.quantiles((0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)),
                    strict=False,
                )
            ),
            "histogram": [[b.lower, b.upper, b.fraction] for b in p.histogram(bins)],
            "distinct": None if distinct is None else distinct.estimate,
            "top_values": p.top_values(10),
        }
    return document


@cli.command()
@click.argument("view", required=False)
@click.option("--run", "run", type=int, help="The run's number (see `featurestore status --runs N`).")
@click.option(
    "--profile",
    "profile_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Show a saved profile instead (from `training-set --profile FILE`).",
)
@click.option("--bins", type=click.IntRange(1, 60), default=12, show_default=True, help="Histogram bins.")
@json_option
@click.pass_context
def stats(
    ctx: click.Context, view: str | None, run: int | None, profile_file: Path | None, bins: int, as_json: bool
) -> None:
    """Show the feature statistics of a view's materialization run.

    Every run profiles the values it writes: count, null share, min, max, mean, stddev, quantiles,
    distinct count, top values of strings and booleans, and a histogram. The newest run by default.
    `--json` prints the whole profile (sketches included): save it, and `featurestore drift` compares
    it with another.

    \b
    Examples:
      featurestore stats driver_hourly_stats
      featurestore stats driver_hourly_stats --run 12 --json > reference.json
      featurestore stats --profile training_profile.json
    """
    from featurestore.stats import Profiles

    if (view is None) == (profile_file is None):
        fail("name a VIEW, or a saved profile with --profile FILE (one of the two)")
    if profile_file is not None:
        profiles = Profiles.load(profile_file)
    else:
        profiles = open_store(ctx).stats(str(view), run)
    if as_json:
        print_json(profiles_json(profiles, bins))
        return
    render_profiles(make_console(), profiles, bins)

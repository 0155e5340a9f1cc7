"""``featurestore get-online``: online values of entities, request data for on-demand features, and
the status of each view's values kept in columns of their own."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from featurestore.cli.app import cli, fail, open_store
from featurestore.cli.app import console as make_console
from featurestore.cli.output import counted, json_option, print_json

if TYPE_CHECKING:
    from featurestore.registry import Registry

# What a status other than PRESENT means, printed under the table when one appears.
LEGEND = {
    "NOT_FOUND": "the entity was never written to the view",
    "EXPIRED": "the latest value is older than the view's ttl",
}

_EXAMPLES = {
    "bool": "true or false",
    "int32": "a whole number, e.g. {name}=3",
    "int64": "a whole number, e.g. {name}=3",
    "float32": "a number, e.g. {name}=12.5",
    "float64": "a number, e.g. {name}=12.5",
    "timestamp": "an ISO time, e.g. {name}=2026-11-01T12:00:00",
    "date": "an ISO date, e.g. {name}=2026-11-01",
}


def request_value(name: str, dtype: str, text: str) -> Any:
    """``text`` (from ``--request name=text``) as a value of the request field's ``dtype``; a
    ``ValueError`` saying what the field expects otherwise.

    >>> request_value("distance_km", "float64", "3.5"), request_value("n", "int64", "7")
    (3.5, 7)
    >>> request_value("vip", "bool", "TRUE"), request_value("tier", "string", "gold")
    (True, 'gold')
    >>> request_value("n", "int64", "seven")
    Traceback (most recent call last):
    ...
    ValueError: --request n='seven': n is int64, give a whole number, e.g. n=3
    """
    try:
        if dtype in ("int32", "int64"):
            return int(text)
        if dtype in ("float32", "float64"):
            return float(text)
        if dtype == "bool":
            return {"true": True, "false": False, "1": True, "0": False}[text.strip().lower()]
        if dtype == "timestamp":
            from featurestore.config import parse_time

            return parse_time(text)
        if dtype == "date":
            return date.fromisoformat(text.strip())
        if dtype == "bytes":
            return text.encode()
        return text
    except (ValueError, KeyError):
        example = _EXAMPLES.get(dtype, "a value").format(name=name)
        raise ValueError(f"--request {name}={text!r}: {name} is {dtype}, give {example}") from None


def request_data(given: tuple[str, ...], fields: dict[str, str], entities: int) -> dict[str, list[Any]]:
    """``--request`` options as one column per request field: a field given once holds for every
    entity; given once per entity (in ``--entity`` order), each entity gets its own value.

    >>> request_data(("fare=10", "km=2", "km=4"), {"fare": "float64", "km": "float64"}, 2)
    {'fare': [10.0, 10.0], 'km': [2.0, 4.0]}
    """
    values: dict[str, list[Any]] = {}
    for item in given:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--request {item!r} is not FIELD=VALUE (for example distance_km=3.5)")
        if name not in fields:
            known = (
                ", ".join(f"{n} ({t})" for n, t in fields.items())
                or "none: no requested feature is on demand"
            )
            raise ValueError(
                f"--request {name}: the requested features read no field {name!r}; they read {known}"
            )
        values.setdefault(name, []).append(request_value(name, fields[name], text))
    for name, column in values.items():
        if len(column) == 1:
            values[name] = column * entities
        elif len(column) != entities:
            raise ValueError(
                f"--request {name} is given {len(column)} times for {counted(entities, 'entity')}: "
                f"give it once (for every entity) or once per --entity"
            )
    return values


def views_of_columns(registry: Registry, wanted: list[str] | str, full_feature_names: bool) -> dict[str, str]:
    """The view (or on-demand view) each output column comes from, by output column name."""
    refs = registry.service(wanted).feature_refs() if isinstance(wanted, str) else wanted
    out: dict[str, str] = {}
    for ref in refs:
        view, feature = ref.split(":", 1)
        odfv = registry.on_demand_views.get(view)
        if feature != "*":
            names: tuple[str, ...] = (feature,)
        elif odfv is not None:
            names = odfv.feature_names
        else:
            names = registry.view(view).view.feature_names
        for name in names:
            out[f"{view}__{name}" if full_feature_names else name] = view
    return out


def cell(value: Any) -> str:
    """A value as printed in a table: ``null`` for a missing one, JSON spellings for booleans.

    >>> cell(None), cell(True), cell(0.25), cell("gold")
    ('null', 'true', '0.25', 'gold')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def view_statuses(statuses: dict[str, list[str]], views: dict[str, str], rows: int) -> dict[str, list[str]]:
    """Per view, per row: the first status other than PRESENT among the view's columns.

    >>> view_statuses({"a": ["PRESENT", "NOT_FOUND"], "b": ["PRESENT", "PRESENT"]}, {"a": "v", "b": "v"}, 2)
    {'v': ['PRESENT', 'NOT_FOUND']}
    """
    out: dict[str, list[str]] = {}
    for column, view in views.items():
        found = out.setdefault(view, ["PRESENT"] * rows)
        for i, status in enumerate(statuses.get(column, ())):
            if found[i] == "PRESENT":
                found[i] = status
    return out


def _parse_entity(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise click.BadParameter(f"{text!r} is not KEY=VALUE (for example driver_id=1001)")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


@cli.command(name="get-online")
@click.option(
    "--features",
    "features",
    required=True,
    multiple=True,
    help="'view:feature' (repeatable or comma-separated), 'view:*', or a feature service name.",
)
@click.option(
    "--entity",
    "entities",
    required=True,
    multiple=True,
    help="Join key values of one entity: KEY=VALUE[,KEY=VALUE] (repeatable, one per entity).",
)
@click.option(
    "--request",
    "requests",
    multiple=True,
    metavar="FIELD=VALUE",
    help="A request field of on-demand features, typed as its request source declares it (repeatable: "
    "once for every entity, or once per --entity in order).",
)
@click.option("--full-feature-names", is_flag=True, help="Name columns 'view__feature'.")
@json_option
@click.pass_context
def get_online(
    ctx: click.Context,
    features: tuple[str, ...],
    entities: tuple[str, ...],
    requests: tuple[str, ...],
    full_feature_names: bool,
    as_json: bool,
) -> None:
    """Fetch online feature values for one or more entities, with one status column per view.

    A status is PRESENT, NOT_FOUND (never written) or EXPIRED (older than the view's ttl); a missing
    value prints as null.

    \b
    Examples:
      featurestore get-online --features driver_hourly_stats:conv_rate \\
          --entity driver_id=1001 --entity driver_id=1002
      featurestore get-online --features driver_ranking_v1 --entity driver_id=1001,customer_id=5001
      featurestore get-online --features ride_value:fare_per_km --entity driver_id=1001 \\
          --request quoted_fare=12.5 --request distance_km=3
    """
    from rich.markup import escape
    from rich.table import Table

    from featurestore.retrieve.on_demand import OnDemandRequest

    refs = [r.strip() for item in features for r in item.split(",") if r.strip()]
    wanted: list[str] | str = refs[0] if len(refs) == 1 and ":" not in refs[0] else refs
    rows = [dict(_parse_entity(part) for part in item.split(",")) for item in entities]
    store = open_store(ctx)
    compiled = store.compile_online(wanted, full_feature_names)
    fields = compiled.split.request_fields if isinstance(compiled, OnDemandRequest) else {}
    try:
        data = request_data(requests, fields, len(rows))
    except ValueError as exc:
        fail(str(exc))
    response = store.get_online_features(
        wanted, rows, full_feature_names=full_feature_names, request_data=data or None
    )
    values, statuses = response.to_dict(), response.statuses()
    if as_json:
        print_json({"values": values, "statuses": statuses})
        return
    by_view = view_statuses(
        statuses, views_of_columns(store.registry, wanted, full_feature_names), len(response)
    )
    table = Table(box=None)
    headers = [*values, *(f"{view} status" if len(by_view) > 1 else "status" for view in by_view)]
    for header in headers:
        table.add_column(escape(header))
    shown: set[str] = set()
    widths = [len(header) for header in headers]
    for i in range(len(response)):
        texts = [cell(column[i]) for column in values.values()] + [v[i] for v in by_view.values()]
        widths = [max(w, len(t)) for w, t in zip(widths, texts, strict=True)]
        shown.update(v[i] for v in by_view.values())
        table.add_row(
            *(escape(t) for t in texts[: len(values)]),
            *("[dim]PRESENT[/]" if t == "PRESENT" else f"[yellow]{t}[/]" for t in texts[len(values) :]),
        )
    console = make_console()
    if not console.is_terminal:  # piped: names and values whole, however wide
        console.width = max(console.width, sum(widths) + 2 * len(widths))
    console.print(table)
    legend = "; ".join(f"{status}: {text}" for status, text in LEGEND.items() if status in shown)
    console.print(f"{counted(len(response), 'row')}" + (f" ({legend})" if legend else ""), highlight=False)

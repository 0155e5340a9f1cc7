"""The serve command: the HTTP feature server."""

from __future__ import annotations

import os

import click

from featurestore.cli.app import cli, open_store
from featurestore.cli.output import counted


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=6566, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (one per core is a good start).",
)
@click.option("--max-entities", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Most entities one request may ask for.")  # fmt: skip
@click.option("--max-body-bytes", default=1 << 20, show_default=True, type=click.IntRange(min=1024),
              help="Largest request body accepted.")  # fmt: skip
@click.option("--max-push-rows", default=10_000, show_default=True, type=click.IntRange(min=1),
              help="Most rows one push may carry.")  # fmt: skip
@click.option(
    "--token-env",
    default="FEATURESTORE_SERVER_TOKEN",
    show_default=True,
    help="Environment variable holding the bearer token clients must send (unset: no auth).",
)
@click.option("--request-timeout", default=1.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds to answer an online-features request; later: 504.")  # fmt: skip
@click.option("--idle-timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds a connection may stay open with no request in progress.")  # fmt: skip
@click.option("--header-timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds a request head may take to arrive; later: 408 and close.")  # fmt: skip
@click.option("--body-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds a request body may take after its head; later: 408 and close.")  # fmt: skip
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))  # fmt: skip
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="json: one JSON object per line.")  # fmt: skip
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="A log line per request (method, path, status, duration).")  # fmt: skip
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    workers: int,
    max_entities: int,
    max_body_bytes: int,
    max_push_rows: int,
    token_env: str,
    request_timeout: float,
    idle_timeout: float,
    header_timeout: float,
    body_timeout: float,
    log_level: str,
    log_format: str,
    access_log: bool,
) -> None:
    """Serve online features over HTTP (POST /online-features, POST /push, GET /health, /ready,
    /metrics).

    The API is described at GET /openapi.json. With the token variable set, every route but /health
    and /ready needs 'Authorization: Bearer <token>'. SIGINT/SIGTERM stop the server gracefully.

    \b
    Example:
      FEATURESTORE_SERVER_TOKEN=s3cret featurestore serve --port 6566 --workers 2
      curl -s localhost:6566/online-features -H 'Authorization: Bearer s3cret' \\
        -d '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}'
    """
    from rich.console import Console

    from featurestore.server import ServerSettings
    from featurestore.server import serve as run_server

    store = open_store(ctx)
    try:
        # Fail here, with one red line: nothing applied, or an on-demand function that cannot be had.
        registry = store.check_serving()
    finally:
        store.close()
    auth = "bearer token required" if os.environ.get(token_env) else f"no auth (${token_env} is unset)"
    banner = (
        f"serving {registry.project} ({counted(len(registry.views), 'view')}, "
        f"{counted(len(registry.services), 'service')}) on "
        f"http://{host}:{port} with {counted(workers, 'worker')}; {auth}"
    )
    if log_format == "text":
        Console(stderr=True).print(banner.replace(registry.project, f"[bold]{registry.project}[/]", 1))
    settings = ServerSettings(
        host=host,
        port=port,
        workers=workers,
        max_body_bytes=max_body_bytes,
        max_entities=max_entities,
        max_push_rows=max_push_rows,
        token_env=token_env,
        request_timeout=request_timeout,
        idle_timeout=idle_timeout,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        log_level=log_level,
        log_format=log_format,
        access_log=access_log,
    )
    # With JSON logs every line on stderr is JSON: the banner becomes a log line.
    run_server(ctx.obj["repo"], settings, banner=banner if log_format == "json" else None)

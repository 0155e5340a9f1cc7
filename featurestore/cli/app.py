"""The click group, shared options and the one place user errors are turned into a red line."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import click

from featurestore.cli.output import log_options
from featurestore.errors import FeatureStoreError, FeatureStoreWarning

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        with warnings.catch_warnings():
            # The core's warnings (a request that works but probably does not do what was meant) are
            # yellow lines on stderr, each time, whatever the interpreter's warning filters say.
            warnings.simplefilter("always", FeatureStoreWarning)
            warnings.showwarning = _shown_as_yellow_line(warnings.showwarning)
            return self._invoke(ctx, debug)

    def _invoke(self, ctx: click.Context, debug: bool) -> Any:
        try:
            return super().invoke(ctx)
        except FeatureStoreError as exc:
            if debug:
                raise
            fail(f"{type(exc).__name__}: {exc.worded_for('cli')}")
        except KeyboardInterrupt:
            if debug:
                raise
            fail("interrupted; nothing half-written is kept, run the command again to finish", code=130)


def _shown_as_yellow_line(show: Any) -> Any:
    """``warnings.showwarning`` printing the core's warnings with ``output.warn``, others with ``show``."""

    def shown(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if issubclass(category, FeatureStoreWarning):
            from featurestore.cli.output import warn

            warn(str(message))
        else:
            show(message, category, *rest, **kw)

    return shown


def console(*, stderr: bool = False) -> Any:
    """A rich console for tables; piped output (no terminal to fit) is 140 columns wide, so names and
    headers are never cut short in logs and scripts."""
    from rich.console import Console

    out = Console(stderr=stderr, emoji=False)  # a value like ":x:" prints as written
    if not out.is_terminal:
        out.width = max(out.width, 140)
    return out


def fail(message: str, code: int = 1) -> None:
    """Print ``error: <message>`` as one red line on stderr and exit with ``code``.

    The message is printed as plain text: messages quote user input (names, paths, values), so console
    markup (``[bold]``) or emoji codes (``:x:``) in it must never restyle or rewrite it.
    """
    from rich.console import Console
    from rich.text import Text

    line = Text.assemble(("error:", "bold red"), " ", message.replace("\n", " "))
    Console(stderr=True, highlight=False, soft_wrap=True, emoji=False, markup=False).print(line)
    sys.exit(code)


@click.group(cls=_Group, context_settings=CONTEXT)
@click.option(
    "-r",
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The feature repo: a folder with definitions/ (and optionally featurestore.toml).",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@log_options
@click.version_option(package_name="featurestore")
@click.pass_context
def cli(ctx: click.Context, repo: Path, debug: bool) -> None:
    """featurestore: point-in-time-correct training sets and fast online features.

    \b
    A typical session:
      featurestore init my_repo && cd my_repo
      featurestore plan                  # what apply would change
      featurestore apply                 # check sources, write the registry
      featurestore training-set --entities rows.parquet --features driver_stats:conv_rate --out ts.parquet
      featurestore materialize --end now # latest values -> the online store
      featurestore get-online --features driver_stats:conv_rate --entity driver_id=1001
    """
    ctx.obj = {"repo": repo, "debug": debug}


def open_store(ctx: click.Context) -> Any:
    from featurestore.store import FeatureStore

    return FeatureStore(ctx.obj["repo"])


def main() -> None:
    cli(prog_name="featurestore")

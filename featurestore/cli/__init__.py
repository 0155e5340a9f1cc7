"""The command line: the only package that prints.

Each command module registers its commands on ``cli``; errors from the core
(``FeatureStoreError``) become one red line and exit code 1 (``--debug`` shows the traceback).
To add a command: a function in the module of its topic, decorated with ``@cli.command()``, with an
``Example:`` in its docstring.
"""

from featurestore.cli import (  # noqa: F401  (registers the commands)
    drift,
    get_online,
    lifecycle,
    online,
    repo,
    serve,
    stats,
    training,
    validate,
)
from featurestore.cli.app import cli, main

__all__ = ["cli", "main"]

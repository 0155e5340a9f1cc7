"""Running the app on uvicorn: one process, or ``workers`` processes sharing the listening socket.

Worker processes build their app with :func:`app_from_env` (uvicorn imports it by name), so the settings
travel in one environment variable. Shutdown is graceful: on SIGINT/SIGTERM uvicorn stops accepting,
finishes requests in flight (up to ``GRACEFUL_SECONDS``), then the lifespan shutdown flushes the feature
log and closes the online store.

Connections are handled by ``guard.GuardedHttpToolsProtocol`` (idle, header and body timeouts) when
httptools is installed, as the ``server`` extra does; without it uvicorn's h11 parser runs, and only
the idle timeout after a response applies (a warning says so).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import logging.config
import os
from pathlib import Path
from typing import Any

from featurestore.server.app import FeatureServer
from featurestore.server.logs import log_config
from featurestore.server.metered import MeteredStore
from featurestore.server.metrics import Metrics
from featurestore.server.settings import ServerSettings

CONFIG_ENV = "FEATURESTORE_SERVER_CONFIG"
GRACEFUL_SECONDS = 10


def create_app(repo: str | Path, settings: ServerSettings | None = None) -> FeatureServer:
    """The ASGI app serving the repo at ``repo`` (its registry must be applied)."""
    from featurestore.config import load_config
    from featurestore.online.factory import open_online_store
    from featurestore.store import FeatureStore

    settings = settings or ServerSettings()
    root = Path(repo).resolve()
    config = load_config(root)
    metrics = Metrics()
    # Every read the server makes goes through this store, which records it in the metrics.
    online = MeteredStore(open_online_store(config.online, root), metrics)
    store = FeatureStore(root, config=config, online_store=online)
    logger = None
    if any(s.logging is not None for s in store.registry.services.values()):
        from featurestore.feature_logging import FeatureLogger

        logger = FeatureLogger(store, queue_size=settings.log_queue)
    return FeatureServer(store, settings, logger, metrics)


def app_from_env() -> FeatureServer:
    """The app factory uvicorn's worker processes call (settings from ``$FEATURESTORE_SERVER_CONFIG``)."""
    data = json.loads(os.environ[CONFIG_ENV])
    repo = data.pop("repo")
    settings = ServerSettings(**data)
    try:
        from featurestore.server import guard
    except ImportError:  # no httptools: uvicorn runs h11, without the guard (see the module docstring)
        pass
    else:
        guard.configure(settings.idle_timeout, settings.header_timeout, settings.body_timeout)
    return create_app(repo, settings)


def serve(repo: str | Path, settings: ServerSettings, *, banner: str | None = None) -> None:
    """Run the server until interrupted; ``banner`` is logged once logging is set up."""
    import uvicorn

    config: dict[str, Any] = {"repo": str(Path(repo).resolve()), **dataclasses.asdict(settings)}
    os.environ[CONFIG_ENV] = json.dumps(config)
    logging_config = log_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(logging_config)  # uvicorn applies it again in each worker
    log = logging.getLogger("featurestore.server")
    if banner:
        log.info(banner)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "factory": True,
        "workers": settings.workers,
        "lifespan": "on",
        "access_log": False,  # ours (featurestore.access) is written by the app, with the duration
        "server_header": False,
        "date_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "timeout_keep_alive": settings.idle_timeout,
        "log_config": logging_config,
        "log_level": settings.log_level,
    }
    try:
        __import__("httptools")
    except ImportError:
        log.warning(
            "httptools is not installed: request head and body timeouts are not enforced (install the "
            "server extra, which installs it)"
        )
    else:
        options["http"] = "featurestore.server.guard:GuardedHttpToolsProtocol"
    try:
        __import__("uvloop")
    except ImportError:
        pass
    else:
        options["loop"] = "uvloop"
    uvicorn.run("featurestore.server.run:app_from_env", **options)

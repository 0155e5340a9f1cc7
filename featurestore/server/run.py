"""Running the app on uvicorn: one process, or ``workers`` processes sharing the listening socket.

Worker processes build their app with :func:`app_from_env` (uvicorn imports it by name), so the settings
travel in one environment variable. Shutdown is graceful: on SIGINT/SIGTERM uvicorn stops accepting,
finishes requests in flight (up to ``GRACEFUL_SECONDS``), then the lifespan shutdown flushes the feature
log and closes the online store.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from featurestore.server.app import FeatureServer, ServerSettings

CONFIG_ENV = "FEATURESTORE_SERVER_CONFIG"
GRACEFUL_SECONDS = 10


def create_app(repo: str | Path, settings: ServerSettings | None = None) -> FeatureServer:
    """The ASGI app serving the repo at ``repo`` (its registry must be applied)."""
    from featurestore.store import FeatureStore

    settings = settings or ServerSettings()
    store = FeatureStore(repo)
    logger = None
    if any(s.logging is not None for s in store.registry.services.values()):
        from featurestore.feature_logging import FeatureLogger

        logger = FeatureLogger(store, queue_size=settings.log_queue)
    return FeatureServer(store, settings, logger)


def app_from_env() -> FeatureServer:
    """The app factory uvicorn's worker processes call (settings from ``$FEATURESTORE_SERVER_CONFIG``)."""
    data = json.loads(os.environ[CONFIG_ENV])
    repo = data.pop("repo")
    return create_app(repo, ServerSettings(**data))


def serve(repo: str | Path, settings: ServerSettings) -> None:
    """Run the server until interrupted."""
    import uvicorn

    config: dict[str, Any] = {"repo": str(Path(repo).resolve()), **dataclasses.asdict(settings)}
    os.environ[CONFIG_ENV] = json.dumps(config)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "factory": True,
        "workers": settings.workers,
        "lifespan": "on",
        "access_log": False,  # a log line per request costs more than the request itself
        "server_header": False,
        "date_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "log_level": "info",
    }
    for module, key, value in (("httptools", "http", "httptools"), ("uvloop", "loop", "uvloop")):
        try:
            __import__(module)
        except ImportError:
            continue
        options[key] = value
    uvicorn.run("featurestore.server.run:app_from_env", **options)

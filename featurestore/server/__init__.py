"""The HTTP feature server: the only package that imports the web server (uvicorn) and orjson.

What lives here
    ``app.py``         the ASGI app: routes, bearer-token auth, JSON errors, the online-features hot path
                       (reads awaited or on threads, with a deadline), /health and /ready, lifespan
    ``requests.py``    request bodies read and checked (every client mistake -> a 4xx with a message), auth
    ``offload.py``     blocking calls on worker threads, awaited with a deadline
    ``guard.py``       uvicorn's httptools protocol with idle, request-head and body timeouts
    ``metrics.py``     Prometheus text metrics: requests, latencies, errors, online-store reads and values
    ``metered.py``     the online store wrapper that records every read in the metrics
    ``collectors.py``  metrics read on each scrape (freshness, registry reloads, feature log, timeouts)
    ``logs.py``        log levels and formats (text, JSON lines), the access log
    ``openapi.py``     the OpenAPI document served at ``GET /openapi.json``
    ``settings.py``    ``ServerSettings``: what ``featurestore serve`` configures
    ``run.py``         ``serve(repo, settings)`` on uvicorn, one or several worker processes

It may import everything in ``featurestore`` except the CLI; nothing in the core imports it. To add an
endpoint: a handler method on ``FeatureServer`` returning ``(status, body)``, one entry in its route
table, its request checks in ``requests.py`` and its schema in ``openapi.py``.
"""

from featurestore.server.app import FeatureServer
from featurestore.server.run import create_app, serve
from featurestore.server.settings import ServerSettings

__all__ = ["FeatureServer", "ServerSettings", "create_app", "serve"]

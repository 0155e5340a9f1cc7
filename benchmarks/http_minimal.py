"""The raw limit of the HTTP benchmark: the least an ASGI app can do to answer the same request.

    uvicorn --factory http_minimal:app ...   (with $HTTP_MINIMAL_CONFIG = {"redis_port", "views": [...]})

It parses the body with orjson, builds the Redis keys of featurestore's layout for the requested driver
ids, sends one MGET over a raw redis-py connection (hiredis), unpacks the packed values with a
precompiled ``struct`` (views of fixed-width features only) and answers the values as JSON. No
validation, no statuses, no ttl, no error handling: the floor under any feature server on this stack.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import orjson
import redis


def app() -> Any:
    config = json.loads(os.environ["HTTP_MINIMAL_CONFIG"])
    client = redis.Redis(host="127.0.0.1", port=int(config["redis_port"]))
    pool = client.connection_pool
    views = [(v["prefix"], struct.Struct(v["struct"]), v["features"]) for v in config["views"]]
    names = [f for _, _, features in views for f in features]
    headers = [(b"content-type", b"application/json")]

    async def minimal(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        message = await receive()
        body = message.get("body", b"")
        while message.get("more_body"):
            message = await receive()
            body += message.get("body", b"")
        ids = orjson.loads(body)["entities"]["driver_id"]
        keys = [f"{prefix}i{i}}}" for prefix, _, _ in views for i in ids]
        conn = pool.get_connection()
        try:
            conn.send_packed_command(conn.pack_command("MGET", *keys))
            raws = conn.read_response()
        finally:
            pool.release(conn)
        out: dict[str, list[Any]] = {name: [] for name in names}
        n = len(ids)
        for v, (_, unpacker, features) in enumerate(views):
            for raw in raws[v * n : (v + 1) * n]:
                fields = unpacker.unpack(raw)[2:] if raw is not None else (None,) * len(features)
                for name, value in zip(features, fields, strict=True):
                    out[name].append(value)
        data = orjson.dumps({"values": out})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})

    return minimal

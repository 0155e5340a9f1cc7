"""The OpenAPI 3.1 document of the server (``GET /openapi.json``), written by hand: the API is small and
the document is the contract clients in other languages generate code from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featurestore.server.app import READY_TIMEOUT

if TYPE_CHECKING:
    from featurestore.server.settings import ServerSettings

_COLUMNS = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {}},
    "description": "Columns: name -> one value per entity (or row).",
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message", "status"],
            "properties": {
                "type": {"type": "string", "examples": ["UnknownFeatureError", "malformed_json"]},
                "message": {"type": "string"},
                "status": {"type": "integer"},
            },
        }
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON or a body of the wrong shape",
        401: "Missing or invalid bearer token",
        404: "Unknown feature view, feature or feature service",
        408: "The request head or body did not arrive within the server's timeout (the connection is closed)",
        413: "Body, entity count or row count over the server's limits",
        422: "Well-formed but unusable: wrong join-key types, missing request data, rows off the schema",
        500: "Unexpected server error, or a request-time feature function raised",
        503: "The online store refused or failed (it is down or unreachable), or the registry is unavailable",
        504: (
            "The online store did not answer in time: its read timeout, or the request's deadline "
            "(serve --request-timeout) passed first. Type OnlineStoreTimeoutError"
        ),
    }
    return {
        str(c): {
            "description": text[c],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


def openapi_document(settings: ServerSettings) -> dict[str, Any]:
    security: list[dict[str, list[str]]] = [{"bearer": []}]
    online_request = {
        "type": "object",
        "required": ["entities"],
        "additionalProperties": False,
        "properties": {
            "features": {
                "type": "array",
                "items": {"type": "string"},
                "examples": [["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]],
                "description": "'view:feature' references ('view:*': all). Exclusive with feature_service.",
            },
            "feature_service": {"type": "string", "examples": ["driver_ranking_v1"]},
            "entities": {**_COLUMNS, "examples": [{"driver_id": [1001, 1002]}], "maxProperties": 16},
            "request_data": {
                **_COLUMNS,
                "description": "Inputs of request-time (on-demand) features, one value per entity.",
            },
            "full_feature_names": {"type": "boolean", "default": False},
            "event_timestamps": {"type": "boolean", "default": False},
        },
    }
    online_response = {
        "type": "object",
        "required": ["features", "values", "statuses"],
        "properties": {
            "features": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Output feature columns",
            },
            "values": {**_COLUMNS, "description": "Join keys then features, one value per entity"},
            "statuses": {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["PRESENT", "NOT_FOUND", "EXPIRED"]},
                },
            },
            "event_timestamps": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": ["string", "null"]}},
            },
        },
    }
    push_request = {
        "type": "object",
        "required": ["view", "rows"],
        "additionalProperties": False,
        "properties": {
            "view": {"type": "string", "examples": ["driver_hourly_stats"]},
            "rows": {
                "oneOf": [_COLUMNS, {"type": "array", "items": {"type": "object"}}],
                "description": "Join keys, the event timestamp column, and every feature of the view.",
            },
            "to": {"type": "string", "enum": ["online", "offline", "both"], "default": "online"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "featurestore feature server",
            "version": "1",
            "description": (
                f"Online features over HTTP. Limits: {settings.max_body_bytes} body bytes, "
                f"{settings.max_entities} entities per request, {settings.max_push_rows} rows per push. "
                f"Timeouts: an online-features answer within {settings.request_timeout:g}s (else 504), a "
                f"request head within {settings.header_timeout:g}s and a body within "
                f"{settings.body_timeout:g}s (else 408), idle connections closed after "
                f"{settings.idle_timeout:g}s."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _ERROR,
                "OnlineFeaturesRequest": online_request,
                "OnlineFeaturesResponse": online_response,
                "PushRequest": push_request,
            },
        },
        "security": security,
        "paths": {
            "/online-features": {
                "post": {
                    "summary": "Latest feature values for a batch of entities",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/OnlineFeaturesRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Values, statuses and (optionally) event timestamps, by column",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/OnlineFeaturesResponse"}
                                }
                            },
                        },
                        **_errors(400, 401, 404, 408, 413, 422, 500, 503, 504),
                    },
                }
            },
            "/push": {
                "post": {
                    "summary": "Write fresh rows of a feature view online, offline (the push log), or both",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/PushRequest"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Rows written",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(400, 401, 404, 408, 413, 422, 503, 504),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness: the process answers",
                    "description": (
                        "Reads nothing (no registry file, no online store), so it stays 200 while the "
                        "store is down: restart a process only when this fails. No token needed."
                    ),
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Up: status ok, and the project and view count of the registry",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: the registry is loaded and the online store answers",
                    "description": (
                        "One key is read from the online store, within a short timeout "
                        f"({READY_TIMEOUT:g}s); send traffic only while this is 200. No token needed."
                    ),
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Ready: status, project, views, online_store (its type)",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "503": {
                            "description": "Not ready: the error says why (registry, store down or too slow)",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                            },
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of this worker process",
                    "responses": {
                        "200": {"description": "Text exposition format", "content": {"text/plain": {}}}
                    },
                }
            },
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}
            },
        },
    }

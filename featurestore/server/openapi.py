"""The OpenAPI 3.1 document of the server (``GET /openapi.json``), written by hand: the API is small and
the document is the contract clients in other languages generate code from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featurestore.server.app import ServerSettings

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
        413: "Body, entity count or row count over the server's limits",
        422: "Well-formed but unusable: wrong join-key types, missing request data, rows off the schema",
        500: "Unexpected server error, or a request-time feature function raised",
        503: "The online store or the registry is unavailable",
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
                f"{settings.max_entities} entities per request, {settings.max_push_rows} rows per push."
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
                        **_errors(400, 401, 404, 413, 422, 500, 503),
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
                        **_errors(400, 401, 404, 413, 422, 503),
                    },
                }
            },
            "/health": {
                "get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "Up"}}}
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

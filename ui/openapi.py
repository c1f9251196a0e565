"""The OpenAPI 3 description of the UI's HTTP API (served at /api/openapi.json).

Request bodies reuse the command schemas in schemas/ so the document cannot drift from what
the server validates.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Dict

from common.schemas import load_schema

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON = "application/json"


def _body_schema(name: str) -> Dict[str, Any]:
    schema = copy.deepcopy(load_schema(name))
    for key in ("$schema", "$id", "examples"):
        schema.pop(key, None)
    return schema


def _resp(description: str, schema: Any = None, mime: str = _JSON) -> Dict[str, Any]:
    out: Dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {mime: {"schema": schema}}
    return out


def _command(summary: str, schema: str, example: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{}, {"token": []}],
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _body_schema(schema), "example": example}},
            },
            "responses": {
                "200": _resp("Published to the controller", {"$ref": "#/components/schemas/Ack"}),
                "400": _resp("Malformed JSON or a value the schema refuses", _ERROR),
                "401": _resp("Token required (server bound beyond localhost)", _ERROR),
                "403": _resp("Cross-origin browser request", _ERROR),
                "503": _resp("MQTT broker not connected", _ERROR),
            },
        }
    }


def _config_write(summary: str, how: str) -> Dict[str, Any]:
    return {
        "summary": summary,
        "description": how + " Only keys whose value changes are written, into the user's own "
        "file (comments, key order and quoting kept; the previous file is kept as .bak), and "
        "retained {base}/config/changed is published. A secret sent as '********' or left out "
        "keeps its stored value, except that changing tibber.api_url, mqtt.host or mqtt.port "
        "without typing the matching secret again clears it (listed in cleared_secrets).",
        "security": [{}, {"token": []}],
        "requestBody": {"required": True, "content": {_JSON: {"schema": {"type": "object"}}}},
        "responses": {
            "200": _resp("Saved", {"$ref": "#/components/schemas/Saved"}),
            "400": _resp("Not a JSON object, nested or huge numbers, or a partial PUT", _ERROR),
            "401": _resp("Token required", _ERROR),
            "403": _resp("Cross-origin browser request", _ERROR),
            "409": _resp(
                "'config file is read-only: PATH', or the file on disk cannot be read", _ERROR
            ),
            "413": _resp("Body larger than 256 KB", _ERROR),
            "421": _resp("Host is not a name this server answers to (web.allowed_hosts)", _ERROR),
            "422": _resp("Invalid; nothing changed", {"$ref": "#/components/schemas/Invalid"}),
        },
    }


@functools.lru_cache(maxsize=1)
def openapi_document() -> Dict[str, Any]:
    obj = {"type": "object"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Alfen ↔ Victron web UI API",
            "version": "1",
            "description": "Reads state from MQTT and sends commands over MQTT; never Modbus. "
            "Bound beyond localhost, write operations need 'Authorization: Bearer <token>'. "
            "Any request whose Host is not loopback, web.host, this machine's own name or "
            "address or in web.allowed_hosts is answered 421.",
        },
        "paths": {
            "/api/status": {
                "get": {
                    "summary": "Snapshot: charger state, identity, controller state, online flags",
                    "responses": {
                        "200": _resp("Snapshot (NaN never appears; unknown is null)", obj)
                    },
                }
            },
            "/api/graph": {
                "get": {
                    "summary": "Graph ring buffer (1 s samples, last hour), columnar",
                    "parameters": [
                        {
                            "name": "since",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "number"},
                            "description": "Only samples newer than this unix time",
                        }
                    ],
                    "responses": {
                        "200": _resp("Samples", obj),
                        "400": _resp("since is not a number", _ERROR),
                    },
                }
            },
            "/api/power": {
                "get": {
                    "summary": "The site's power flows (W), one mean per 30 s for 6 hours, columnar",
                    "parameters": [
                        {
                            "name": "since",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "number"},
                            "description": "Only points newer than this unix time",
                        }
                    ],
                    "responses": {
                        "200": _resp(
                            "t, ev_w, pv_w, grid_w (+ import), battery_w (+ charging)", obj
                        ),
                        "400": _resp("since is not a number", _ERROR),
                    },
                }
            },
            "/api/prices": {
                "get": {
                    "summary": "The import price slots the controller plans with (control/prices)",
                    "responses": {"200": _resp("schemas/control_prices.schema.json", obj)},
                }
            },
            "/api/events": {
                "get": {
                    "summary": "Server-Sent Events: 'status' events with the /api/status document",
                    "responses": {
                        "200": _resp("Event stream", {"type": "string"}, "text/event-stream"),
                        "503": _resp("Too many open streams; poll /api/status", _ERROR),
                    },
                }
            },
            "/api/config/schema": {
                "get": {
                    "summary": "JSON Schema of the configuration (drives the editor)",
                    "responses": {"200": _resp("JSON Schema", obj)},
                }
            },
            "/api/config": {
                "get": {
                    "summary": "Configuration with defaults; secrets masked as '********'",
                    "responses": {
                        "200": {
                            **_resp("Configuration", obj),
                            "headers": {
                                "X-Config-Read-Only": {
                                    "description": "Present when the file cannot be written: "
                                    "'config file is read-only: PATH'",
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        "409": _resp("The file on disk cannot be read", _ERROR),
                    },
                },
                "put": _config_write(
                    "Replace the whole configuration",
                    "The body is the whole config (GET's answer with edits). A body that leaves "
                    "out a key the file has is refused with 400: 'PUT replaces the whole config; "
                    "use PATCH'.",
                ),
                "patch": _config_write(
                    "Change part of the configuration (what the page does)",
                    "Objects merge key by key; arrays and values replace the stored ones; null "
                    'is stored as null. Example: {"auto": {"reserve_w": 150}}.',
                ),
            },
            "/api/mode": _command(
                "Set the mode (0 MANUAL, 1 AUTO, 2 SCHEDULED)", "set_mode", {"mode": 1}
            ),
            "/api/startstop": _command(
                "Enable or disable charging", "set_startstop", {"enabled": True}
            ),
            "/api/set_current": _command(
                "Set the MANUAL charging current (at most the station max)",
                "set_current",
                {"amps": 16},
            ),
            "/api/sessions": {
                "get": {
                    "summary": "Charging session history (newest first)",
                    "responses": {"200": _resp("Sessions", obj)},
                }
            },
            "/api/sessions.csv": {
                "get": {
                    "summary": "Session history as CSV",
                    "responses": {"200": _resp("CSV", {"type": "string"}, "text/csv")},
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _resp("OpenAPI 3", obj)},
                }
            },
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Ack": {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean"},
                        "topic": {"type": "string"},
                        "payload": obj,
                    },
                },
                "Saved": {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean"},
                        "changed": {"type": "array", "items": {"type": "string"}},
                        "restart_required": {"type": "array", "items": {"type": "string"}},
                        "notified": {"type": "boolean"},
                        "cleared_secrets": {"type": "array", "items": {"type": "string"}},
                        "message": {"type": "string"},
                        "config": obj,
                    },
                },
                "Invalid": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "cleared_secrets": {"type": "array", "items": {"type": "string"}},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "path": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }

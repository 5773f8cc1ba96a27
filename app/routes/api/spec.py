"""The OpenAPI spec's shared parts: the one error shape on every operation, the two ways to authenticate."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }
    },
}
ERROR_RESPONSES = {
    "400": "bad input the service refused (the message names it)",
    "401": "no valid API token or session",
    "403": "the caller's tier may not do this, or a failed CSRF/same-origin check",
    "404": "no such job, run, slice, strategy or token",
    "409": "the request clashes with the job's state",
    "413": "request body too large",
    "422": "request does not match the schema (details name each field)",
    "429": "rate limit of the caller's tier reached (see the X-RateLimit-* and Retry-After headers)",
}
SECURITY_SCHEMES = {
    "BearerAuth": {"type": "http", "scheme": "bearer", "description": "a personal API token"},
    "SessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "the dashboard's session (same origin; X-CSRFToken header on POST, PUT, DELETE)",
    },
}


def register_spec(app: Flask) -> None:
    """Give the generated spec the error shape, the security schemes and the API's description."""
    app.config.update(
        HTTP_ERROR_SCHEMA=ERROR_SCHEMA,
        VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA,
        SECURITY_SCHEMES=SECURITY_SCHEMES,
        DESCRIPTION="CryptoLens JSON API v1: strategies, candles, setups, optimization jobs and runs, "
        "heatmaps, best and production parameters. Errors: {error: {code, message, details}}.",
    )

    @app.spec_processor
    def complete(spec: dict[str, Any]) -> dict[str, Any]:
        spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        public = _public_paths(app)
        for path, operations in spec.get("paths", {}).items():
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                for code, description in ERROR_RESPONSES.items():
                    operation["responses"][code] = {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    }
                operation["security"] = [] if path in public else [{"BearerAuth": []}, {"SessionCookie": []}]
        return spec


def _public_paths(app: Flask) -> set[str]:
    """OpenAPI paths of the views marked ``@public`` (no sign-in needed)."""
    return {
        re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions.get(rule.endpoint), "api_public", False)
    }

"""The JSON API v1 (/api/v1): blueprints per area, all sharing ``base`` (auth, tiers, limits, ETags) and ``schemas``.

The OpenAPI 3 spec is generated from the schemas the views validate with and
served at /api/v1/openapi.json; /api/v1/docs is the interactive page
(vendored assets). See README "JSON API".
"""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    """Register every API v1 blueprint and the spec's shared parts (security, the error responses)."""
    from app.routes import api_scripts
    from app.routes.api import catalogue, jobs, outcomes, parameters, runs, tokens
    from app.routes.api.spec import register_spec

    for module in (catalogue, jobs, runs, parameters, outcomes, tokens, api_scripts):
        app.register_blueprint(module.bp)
    register_spec(app)

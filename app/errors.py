"""One error hierarchy for the whole app, mapped to HTTP in one place."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class AppError(Exception):
    """An error meant for the user: a stable code, a message, optional details.

    ``status_code`` is its HTTP status; ``exit_code`` what a command or script
    exits with (docs/design-rules.md#exit-codes: 1 partial failure, 2 bad input, 3 busy;
    see app/cli/errors.py).
    """

    status_code = 400
    exit_code = 2
    code = "error"

    def __init__(self, message: str, *, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationError(AppError):
    """Bad input: a grid, a CSV, a payload, a parameter."""

    code = "validation_error"


class NotFoundError(AppError):
    """A named thing (symbol, job, user) does not exist."""

    status_code = 404
    code = "not_found"


class ConflictError(AppError):
    """The request clashes with the current state: another process holds it (already running)."""

    status_code = 409
    exit_code = 3
    code = "conflict"


class AlreadyExistsError(ConflictError):
    """The thing to create exists already (a user's email): HTTP 409, but bad input (exit 2) for a command."""

    exit_code = 2


class ForbiddenError(AppError):
    """The user may not do this (tier or role)."""

    status_code = 403
    code = "forbidden"


def _wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.path.endswith(".json")
        or request.accept_mimetypes.best == "application/json"
    )


def register_error_handlers(app: Flask) -> None:
    """Render AppError and HTTP errors as JSON for API clients (docs/design-rules.md#errors), as a page for browsers."""

    @app.errorhandler(AppError)
    def handle_app_error(error: AppError):
        if not _wants_json():
            return render_template("errors/error.html", status=error.status_code, message=error.message), (
                error.status_code
            )
        return jsonify(error.to_dict()), error.status_code

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        if not _wants_json():
            return error
        body = {"error": {"code": error.name.lower().replace(" ", "_"), "message": error.description, "details": None}}
        response = jsonify(body)
        response.status_code = error.code
        # Keep what the error says in headers (WWW-Authenticate, Allow, Retry-After), not its HTML content type.
        response.headers.extend([(k, v) for k, v in error.get_headers() if k.lower() != "content-type"])
        return response

    if hasattr(app, "error_callback"):
        # APIFlask's own errors (request validation: 422 with field details) get the same shape. Set directly:
        # its ``error_processor`` decorator would also take over every HTML page's errors.
        def api_error(error):
            code = "validation_error" if error.status_code == 422 else _code_name(error.status_code)
            body = {"error": {"code": code, "message": error.message, "details": error.detail or None}}
            return body, error.status_code, error.headers

        app.error_callback = api_error


def _code_name(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")

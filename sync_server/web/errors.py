"""JSON errors: every error response of the API is
``{"error": {"code": ..., "message": ...}}`` (and ``"field"`` when one field
of the request is at fault), never an HTML page; an unexpected exception is
logged with its traceback and answered 500 without details."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import InvalidValueError, NotFoundError, StateConflictError, StoreError


class ApiError(Exception):
    """An error answered as JSON with ``status``; ``code`` is a short
    machine-readable name, ``field`` the request field at fault, if any."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def bad_field(field: str, message: str) -> ApiError:
    """A 400 naming ``field``."""
    return ApiError(400, "invalid_field", message, field=field)


def error_response(status: int, code: str, message: str, *, field: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify(error=body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    headers = {name: value for name, value in exc.get_headers() if name.lower() == "allow"}
    return error_response(status, code, exc.description or exc.name, headers=headers)


def _internal_error(exc: InternalServerError) -> Response:
    original = exc.original_exception or exc
    current_app.logger.error("unhandled exception", exc_info=(type(original), original, original.__traceback__))
    return error_response(500, "internal_error", "the server failed; the error is logged")


def _invalid_value(exc: InvalidValueError) -> Response:
    return error_response(400, "invalid_value", str(exc))


def _not_found(exc: NotFoundError) -> Response:
    return error_response(404, "not_found", str(exc))


def _conflict(exc: StateConflictError) -> Response:
    return error_response(409, "conflict", str(exc))


def _store_error(exc: StoreError) -> Response:
    current_app.logger.error("database error", exc_info=exc)
    return error_response(503, "database_unavailable", "the database cannot be used now; the error is logged")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(InvalidValueError, _invalid_value)
    app.register_error_handler(NotFoundError, _not_found)
    app.register_error_handler(StateConflictError, _conflict)
    app.register_error_handler(StoreError, _store_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(HTTPException, _http_error)

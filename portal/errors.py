"""Error pages: HTML for people, the JSON error envelope for ``/api/``."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

_API_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
              415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
              500: "internal_error"}


def api_error(status: int, message: str, fields: dict[str, str] | None = None):
    """The API's error response: ``{"error": {"code", "message", "fields"}}``."""
    body = {"error": {"code": _API_CODES.get(status, "error"), "message": message,
                      "fields": fields or {}}}
    return jsonify(body), status


def init_app(app: Flask) -> None:
    """Register one handler for every HTTP error."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(500, _server_error)


def _http_error(exc: HTTPException):
    status = exc.code or 500
    if request.path.startswith("/api/"):
        message = "the request body is larger than 1 MiB" if status == 413 else exc.description
        return api_error(status, message or exc.name)
    if status == 404:
        # One page for every bad token: unknown, malformed, altered or revoked all look alike.
        return render_template("errors/404.html"), 404
    return render_template("errors/generic.html", status=status, name=exc.name), status


def _server_error(_exc):
    if request.path.startswith("/api/"):
        return api_error(500, "internal error")
    return render_template("errors/generic.html", status=500, name="Something went wrong"), 500

"""Error pages: HTML for people, the JSON error envelope for ``/api/``."""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_login import AnonymousUserMixin
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

_API_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
              415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
              500: "internal_error", 503: "unavailable"}
RETRY_AFTER = "30"  # seconds: a database restart or failover, not an outage of hours


def api_error(status: int, message: str, fields: dict[str, str] | None = None):
    """The API's error response: ``{"error": {"code", "message", "fields"}}``."""
    body = {"error": {"code": _API_CODES.get(status, "error"), "message": message,
                      "fields": fields or {}}}
    return jsonify(body), status


def init_app(app: Flask) -> None:
    """Register one handler for every HTTP error."""
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(500, _server_error)
    app.register_error_handler(OperationalError, _database_unavailable)


def http_error(exc: HTTPException):
    """The error page (or the API's envelope) for an HTTP error."""
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


def _database_unavailable(exc: OperationalError):
    # The DB-API's OperationalError: the database went away (restart, failover, a cut
    # connection) or could not do the work now (SQLite's lock timeout). The transaction rolled
    # back with it, so nothing was written, and trying again shortly is the right advice. A
    # statement error (a bug, a constraint) is another class and stays a 500.
    current_app.logger.error("the database is unavailable: %s", type(exc.orig).__name__)
    # The page must not ask the database who is signed in (Flask-Login loads the user on
    # first use of current_user and caches it in g): as far as this page knows, nobody.
    g._login_user = AnonymousUserMixin()
    if request.path.startswith("/api/"):
        response, status = api_error(503, "the database is briefly unavailable; nothing was "
                                          "changed: try again in a minute")
    else:
        response, status = render_template("errors/generic.html", status=503,
                                           name="Briefly unavailable"), 503
    return response, status, {"Retry-After": RETRY_AFTER}

"""HTTP hardening applied to every response, and token-free logging."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from portal import logs

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
STRIPE_CHECKOUT = "https://checkout.stripe.com"


def init_app(app: Flask) -> None:
    """Install the response headers and the log redaction."""
    app.extensions["portal.csp"] = csp_for(app)
    app.after_request(_headers)
    logs.install(app.logger, logging.getLogger("werkzeug"))


def csp_for(app: Flask) -> str:
    """The CSP; with payments on, the pay form may redirect to Checkout (browsers apply
    ``form-action`` to the redirect that follows a form post)."""
    if "portal.stripe" not in app.extensions:
        return CSP
    base = app.config.get("STRIPE_API_BASE")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base)) if base else STRIPE_CHECKOUT
    return CSP.replace("form-action 'self'", f"form-action 'self' {origin}")


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.extensions["portal.csp"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def no_store(response: Response) -> Response:
    """Mark a token page uncacheable: browsers and proxies must not keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response

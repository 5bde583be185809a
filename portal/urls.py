"""Absolute customer-facing URLs, always built on PORTAL_BASE_URL.

Never on the request's Host header: these URLs go into emails, PDFs and API responses, and a
forged Host must not be able to redirect a customer's payment link elsewhere.
"""

from __future__ import annotations

from flask import current_app


def _base() -> str:
    return current_app.config["PORTAL_BASE_URL"].rstrip("/")


def pay_url(token: str) -> str:
    """The invoice page (``/i/<token>``), the link printed on an invoice."""
    return f"{_base()}/i/{token}"


def statement_url(token: str) -> str:
    """The customer's statement page (``/s/<token>``)."""
    return f"{_base()}/s/{token}"

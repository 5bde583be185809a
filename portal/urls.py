"""Absolute customer-facing URLs, always built on PORTAL_BASE_URL.

Never on the request's Host header: these URLs go into emails, PDFs and API responses, and a
forged Host must not be able to redirect a customer's payment link elsewhere.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from werkzeug.routing import IntegerConverter

MAX_ROW_ID = 2**31 - 1  # primary keys are 32-bit integers on PostgreSQL


class RowIdConverter(IntegerConverter):
    """``<id:name>``: a row id in a URL. Anything outside 1..2^31-1 is a 404 at routing; as a
    plain ``int`` it would reach PostgreSQL, fail to bind, and answer 500."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


def _base() -> str:
    return current_app.config["PORTAL_BASE_URL"].rstrip("/")


def pay_url(token: str) -> str:
    """The invoice page (``/i/<token>``), the link printed on an invoice."""
    return f"{_base()}/i/{token}"


def statement_url(token: str) -> str:
    """The customer's statement page (``/s/<token>``)."""
    return f"{_base()}/s/{token}"

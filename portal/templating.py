"""Template filters (money, dates), the business's branding, and the logo route."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from babel.dates import format_date
from flask import Flask, current_app, send_file

from payments.money import format_money

STATIC = Path(__file__).parent / "static"


def init_app(app: Flask) -> None:
    """Register filters, the ``business`` template global and ``/logo``."""
    locale = app.config["PORTAL_LOCALE"]

    @app.template_filter("money")
    def money(amount: int, currency: str) -> str:
        return format_money(amount, currency, locale)

    @app.template_filter("day")
    def day(value: date | None) -> str:
        return format_date(value, format="medium", locale=locale) if value else ""

    app.jinja_env.globals["business"] = {
        "name": app.config["PORTAL_BUSINESS_NAME"],
        "address_lines": [ln for ln in app.config["PORTAL_BUSINESS_ADDRESS"].split("\n") if ln],
        "support_email": app.config["PORTAL_SUPPORT_EMAIL"],
    }
    app.add_url_rule("/logo", "logo", _logo)


def _logo():
    """The configured logo (PORTAL_LOGO_PATH) or the bundled one; cacheable, it has no secrets."""
    path = current_app.config.get("PORTAL_LOGO_PATH") or str(STATIC / "logo.svg")
    return send_file(path, max_age=3600)

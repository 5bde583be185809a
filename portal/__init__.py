"""AR Portal web app: ``create_app`` wires configuration, database, security and blueprints."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from payments.links.policy import LinkPolicy
from payments.links.tokens import LinkKey
from payments.stripe.gateway import StripeGateway
from portal import config as config_module
from portal import database, errors, security, tasks, templating, urls, webhook
from portal.extensions import csrf, limiter


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory. ``config`` overrides the environment (tests and the demo use it).

    Raises :class:`portal.config.ConfigError` (a one-line message) when required secrets are
    missing outside demo, debug and testing.
    """
    app = Flask(__name__, instance_path=_instance_path(), instance_relative_config=True)
    overrides = dict(config or {})
    if os.environ.get("FLASK_DEBUG") in ("1", "true"):
        overrides.setdefault("DEBUG", True)
    settings = config_module.load(app.instance_path, overrides)
    config_module.require_secrets(settings, app.instance_path)
    app.config.update(settings)
    app.config.update(_flask_settings(settings))
    ttl_days = settings["PORTAL_LINK_TTL_DAYS"]
    app.extensions["portal.links"] = LinkPolicy(
        key=LinkKey(settings["PORTAL_LINK_KEY"].encode()),
        ttl=timedelta(days=ttl_days) if ttl_days else None,
    )
    if settings["PORTAL_PROXY_COUNT"]:
        n = settings["PORTAL_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    database.init_app(app)
    if settings["STRIPE_SECRET_KEY"]:
        app.extensions["portal.stripe"] = StripeGateway(settings["STRIPE_SECRET_KEY"],
                                                        settings["STRIPE_API_BASE"])
    app.jinja_env.globals["payments_enabled"] = "portal.stripe" in app.extensions
    webhook.init_app(app)
    tasks.init_app(app)
    security.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    _allow_uploads(app)  # before CSRFProtect, whose check parses the body
    csrf.init_app(app)
    limiter.init_app(app)
    app.url_map.converters["id"] = urls.RowIdConverter
    _register_blueprints(app)
    return app


def _flask_settings(settings: dict[str, Any]) -> dict[str, Any]:
    # What Flask and its extensions read, derived from the portal's own settings.
    return {
        "SECRET_KEY": settings["PORTAL_SECRET_KEY"],
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings["PORTAL_BASE_URL"].startswith("https://"),
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_STORAGE_URI": settings["PORTAL_REDIS_URL"] or "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,
    }


def _instance_path() -> str:
    # PORTAL_INSTANCE_PATH lets tests and packagers keep runtime files elsewhere; by default it is
    # ./instance next to the checkout, as the README describes.
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instance")
    return os.environ.get("PORTAL_INSTANCE_PATH", default)


def _allow_uploads(app: Flask) -> None:
    from portal.customer import dispute

    dispute.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from portal.api import bp as api_bp
    from portal.customer import bp as customer_bp
    from portal.staff import bp as staff_bp
    from portal.staff import init_app as init_staff

    app.register_blueprint(customer_bp)
    init_staff(app)
    app.register_blueprint(staff_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(webhook.bp)
    csrf.exempt(api_bp)  # bearer-token API: no cookies, so no CSRF
    csrf.exempt(webhook.bp)  # authenticated by Stripe's signature instead

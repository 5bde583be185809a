"""The sandbox Flask app: ``create_app(config)`` wires the Stripe API (``/v1``), the hosted
pages, the control endpoints (``/_sandbox``) and the webhook worker around one state."""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from stripe_sandbox import (
    api,
    control,
    endpoints,
    hosted,
    routes,  # noqa: F401 - registers the /v1 endpoints on api.bp
    settlement,
)
from stripe_sandbox.delivery import Deliverer
from stripe_sandbox.store import Store

DEFAULT_PORT = 12111
DEFAULTS: dict[str, Any] = {
    "SANDBOX_API_VERSION": "2026-10-28.endive",
    "SANDBOX_PUBLIC_URL": None,          # base URL of the hosted pages; default: request host
    "SANDBOX_RETRY_BASE": 1.0,           # seconds before the first webhook retry; doubles
    "SANDBOX_MAX_ATTEMPTS": 8,           # webhook attempts before a delivery is abandoned
    "SANDBOX_WEBHOOK_TIMEOUT": 10.0,     # seconds to wait for a webhook receiver
    "SANDBOX_ACH_SETTLE_AFTER": None,    # seconds; None: ACH waits for the control API
    "SANDBOX_TICK": 0.1,                 # how often the worker checks timers
    "SANDBOX_SEED": None,                # seed for drop/shuffle faults
    "SANDBOX_WEBHOOKS": [],              # [{"url": ..., "secret": "whsec_..."}] at start
    "SANDBOX_START_WORKER": True,
}


class Sandbox:
    """The state and the webhook worker of one sandbox app."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.store = Store(config)
        self.deliverer = Deliverer(self.store, settlement.tick)
        self.startup_endpoints: list[dict[str, Any]] = []
        self._register_configured_endpoints()

    def _register_configured_endpoints(self) -> None:
        self.startup_endpoints = []
        for hook in self.config.get("SANDBOX_WEBHOOKS") or []:
            params = {"url": hook["url"], "enabled_events": hook.get("enabled_events", ["*"])}
            created = endpoints.create(self.store, params, hook.get("secret"))
            self.startup_endpoints.append(created)

    def reset(self) -> None:
        """Back to a fresh sandbox with only the configured webhook endpoints."""
        with self.store.lock:
            self.store.reset()
            self.deliverer.reset()
            self._register_configured_endpoints()

    def start(self) -> None:
        """Start webhook delivery."""
        self.deliverer.start()

    def stop(self) -> None:
        """Stop webhook delivery."""
        self.deliverer.stop()


def _environment() -> dict[str, Any]:
    found = {}
    for key in DEFAULTS:
        if key in os.environ:
            try:
                found[key] = json.loads(os.environ[key])
            except json.JSONDecodeError:
                found[key] = os.environ[key]
    return found


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """A sandbox app. Config: ``DEFAULTS`` keys, from ``SANDBOX_*`` environment variables
    (JSON values) and then ``config``."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(_environment())
    app.config.update(config or {})
    app.json.sort_keys = False
    sandbox = Sandbox(app.config)
    app.extensions["stripe_sandbox"] = sandbox
    app.register_blueprint(api.bp)
    app.register_blueprint(hosted.bp)
    app.register_blueprint(control.bp)

    @app.errorhandler(NotFound)
    @app.errorhandler(MethodNotAllowed)
    def unknown(exc: Exception) -> Any:
        if request.path.startswith("/v1/") or request.path == "/v1":
            return api.unrecognized(exc)
        return hosted.not_found(exc)

    if app.config["SANDBOX_START_WORKER"]:
        sandbox.start()
    return app

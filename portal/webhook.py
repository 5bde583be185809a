"""``POST /stripe/webhook``: verify, store once, handle, answer.

200 for applied, duplicate and ignored events; 400 (nothing applied) when the signature or the
timestamp is wrong; 500 when a handler failed, so Stripe delivers the event again; 503 when no
webhook secret is configured, because then no event can be verified.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Flask, current_app, jsonify, request

from payments.events import event_store, handlers
from portal import database
from portal.extensions import limiter

bp = Blueprint("webhook", __name__)
# Stripe retries what we refuse and every event is signed: throttling would only delay money.
limiter.exempt(bp)


def init_app(app: Flask) -> None:
    """Read the webhook secrets (comma-separated, for rotation) and say so if there are none."""
    raw = app.config.get("STRIPE_WEBHOOK_SECRET") or ""
    app.extensions["portal.webhook_secrets"] = [s.strip() for s in raw.split(",") if s.strip()]
    if not app.extensions["portal.webhook_secrets"] and not app.config.get("TESTING"):
        app.logger.warning("STRIPE_WEBHOOK_SECRET is not set: /stripe/webhook will refuse "
                           "every event until it is")


@bp.post("/stripe/webhook")
def stripe_webhook():
    """Receive one Stripe event."""
    secrets = current_app.extensions["portal.webhook_secrets"]
    if not secrets:
        return jsonify(error="STRIPE_WEBHOOK_SECRET is not configured"), 503
    try:
        event = event_store.verify(request.get_data(), request.headers.get("Stripe-Signature"),
                              secrets)
    except event_store.SignatureError as exc:
        return jsonify(error=str(exc)), 400
    ctx = handlers.Context(current_app.extensions.get("portal.stripe"))
    result = event_store.ingest(database.db(), event, partial(handlers.handle, ctx),
                                source="webhook")
    if result.outcome == "failed":
        current_app.logger.error("Stripe event %s (%s) failed: %s", event["id"], event["type"],
                                 result.error)
        return jsonify(error="handler failed; Stripe will retry"), 500
    return jsonify(received=True, outcome=result.outcome)

"""``POST /stripe/webhook``: verify, store once, queue, answer. Nothing else in the request.

200 once the event is stored (``queued``) or was stored before (``duplicate``): a task applies
it (:mod:`payments.events.processing`), and a failure there is retried by the portal, not by
Stripe. 400 (nothing stored) when the signature or the timestamp is wrong; 500 when the
database cannot store the event, so Stripe delivers it again; 503 when no webhook secret is
configured, because then no event can be verified.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from payments.events import event_store, processing
from portal import database, tasks
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
    try:
        new = processing.store(database.db(), event)
    except SQLAlchemyError:
        current_app.logger.exception("Stripe event %s could not be stored", event["id"])
        return jsonify(error="could not store the event; Stripe will retry"), 500
    if new:
        try:
            tasks.enqueue_event(current_app, event["id"])
        except Exception:  # noqa: BLE001  (the queue is down: the sweep applies the event)
            current_app.logger.exception("Stripe event %s stored but not queued", event["id"])
    return jsonify(received=True, outcome="queued" if new else "duplicate")

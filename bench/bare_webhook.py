"""The ceiling for ``bench/webhooks.py``: verify the signature, insert the event id, answer.

Served by gunicorn exactly like the portal, on the same database, so the ratio between the two
is what the portal's event store, handlers and ledger cost on top of the unavoidable work.
"""

from __future__ import annotations

import os

from flask import Flask, request

from payments.db import Database
from payments.events import event_store

DB = Database(os.environ["PORTAL_DATABASE_URL"])
SECRETS = [os.environ["STRIPE_WEBHOOK_SECRET"]]
INSERT = {
    "sqlite": "INSERT OR IGNORE INTO bare_events (id) VALUES (?)",
    "postgresql": "INSERT INTO bare_events (id) VALUES (%s) ON CONFLICT DO NOTHING",
}[DB.engine.dialect.name]

app = Flask(__name__)


@app.get("/")
def ready():
    """Readiness probe."""
    return "ok"


@app.post("/stripe/webhook")
def webhook():
    """Verify and store the event id; no handling at all."""
    try:
        event = event_store.verify(request.get_data(), request.headers.get("Stripe-Signature"),
                              SECRETS)
    except event_store.SignatureError:
        return {"error": "bad signature"}, 400
    with DB.engine.begin() as conn:
        conn.exec_driver_sql(INSERT, (event["id"],))
    return {"received": True}

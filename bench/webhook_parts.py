"""Where a webhook's time goes, in-process (no HTTP server): microseconds per event for

- **bare**: ``bench/bare_webhook.py`` (verify, insert the id): the ceiling ``bench/webhooks.py``
  compares against;
- **portal**: the portal's ``/stripe/webhook`` through the whole app (Flask-Limiter, CSRF and
  session hooks, security headers), storing the whole event and queueing its task;
- **view alone**: the same view on a bare Flask app with only the security headers: what the
  app's other hooks cost;
- **store** and **enqueue**: the two writes the view makes, on their own.

Each figure is the median of ``--rounds`` runs of ``--events`` events on SQLite (a temporary
file, the queue a SQLite file next to it, as ``portal worker`` has it).

    .venv/bin/python bench/webhook_parts.py [--events 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SECRET = "whsec_bench_parts"


def _event(n: int) -> dict:
    return {"id": f"evt_parts_{n:08d}", "object": "event", "type": "payment_intent.succeeded",
            "created": 1764700000, "livemode": False,
            "data": {"object": {"id": f"pi_parts_{n:08d}", "object": "payment_intent",
                                "amount": 12500, "currency": "usd", "status": "succeeded",
                                "metadata": {"ar_portal_attempt": f"pa_{n:06d}"}}}}


def _apps(tmp: Path):
    url = f"sqlite:///{tmp / 'parts.db'}"
    os.environ.update(PORTAL_DATABASE_URL=url, STRIPE_WEBHOOK_SECRET=SECRET)
    from flask import Flask
    from sqlalchemy import text

    from bench import bare_webhook
    from payments.migrate import upgrade
    from portal import create_app, database, security, webhook

    upgrade(bare_webhook.DB.engine)
    with bare_webhook.DB.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bare_events (id VARCHAR(255) PRIMARY KEY)"))
    app = create_app({"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench-secret",
                      "PORTAL_LINK_KEY": "bench-link-key-0123456789abcdef0123456789",
                      "PORTAL_INSTANCE_PATH": str(tmp), "STRIPE_WEBHOOK_SECRET": SECRET,
                      "PORTAL_QUEUE_PATH": str(tmp / "tasks.db")})
    alone = Flask("webhook-alone")
    alone.config.update(app.config)
    alone.extensions.update(app.extensions)
    alone.after_request(security._headers)
    alone.teardown_appcontext(database._close_session)
    alone.add_url_rule("/stripe/webhook", "stripe_webhook", webhook.stripe_webhook,
                       methods=["POST"])
    return bare_webhook.app, app, alone


def _posting(flask_app) -> Callable[[list[dict]], None]:
    from payments.events import event_store

    client = flask_app.test_client()

    def post(events: list[dict]) -> None:
        for event in events:
            body = json.dumps(event).encode()
            response = client.post("/stripe/webhook", data=body,
                                   content_type="application/json",
                                   headers={"Stripe-Signature": event_store.sign(body, SECRET)})
            assert response.status_code == 200, response.get_data(as_text=True)

    return post


def _parts(app) -> dict[str, Callable[[list[dict]], None]]:
    from payments.events import processing
    from portal import tasks

    db = app.extensions["portal.db"]

    def store(events: list[dict]) -> None:
        for event in events:
            processing.store(db, event)

    def enqueue(events: list[dict]) -> None:
        for event in events:
            tasks.enqueue_event(app, event["id"])

    return {"store": store, "enqueue": enqueue}


def main() -> None:
    """Print µs per event for each path, and the portal's share of the bare ceiling."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare, app, alone = _apps(Path(tmp))
        paths = {"bare": _posting(bare), "portal": _posting(app), "view alone": _posting(alone),
                 **_parts(app)}
        timings: dict[str, list[float]] = {name: [] for name in paths}
        serial = 0
        for _round in range(args.rounds):
            for name, run in paths.items():  # interleaved, so drift hits every path alike
                events = [_event(serial + n) for n in range(args.events)]
                serial += args.events
                started = time.perf_counter()
                run(events)
                timings[name].append((time.perf_counter() - started) / args.events * 1e6)
        app.extensions["portal.db"].dispose()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, value in medians.items():
        print(f"{name:<11} {value:8.0f} µs/event")
    print(f"portal / bare throughput ratio, in-process: {medians['bare'] / medians['portal']:.2f}")


if __name__ == "__main__":
    main()

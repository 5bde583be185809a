"""Background work for real: a missed webhook is recovered by the periodic Stripe sync, run by
a separate ``portal worker`` process or by the consumer ``portal demo``/``portal run`` embed,
without anyone pressing a button."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from portal import tasks
from tests.conftest import LINK_KEY
from tests.integration.conftest import WEBHOOK_SECRET, session_id, wait_for


def _missed_payment(stack, customer) -> dict:
    """An invoice paid at Stripe while its webhooks could not reach the portal."""
    stack.sandbox.control("faults", {"outage": True})
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                          {"method": "card", "number": "4242424242424242"})
    assert stack.invoice(inv["id"])["amount_paid"] == 0  # the portal heard nothing
    return inv


def _worker_env(app) -> dict[str, str]:
    config = app.config
    return {**os.environ, "PORTAL_DATABASE_URL": config["PORTAL_DATABASE_URL"],
            "PORTAL_QUEUE_PATH": config["PORTAL_QUEUE_PATH"],
            "PORTAL_SECRET_KEY": "worker-test-secret", "PORTAL_LINK_KEY": LINK_KEY,
            "PORTAL_BASE_URL": config["PORTAL_BASE_URL"],
            "STRIPE_SECRET_KEY": config["STRIPE_SECRET_KEY"],
            "STRIPE_API_BASE": config["STRIPE_API_BASE"], "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}


def test_a_worker_process_recovers_a_missed_payment_once(stack, customer):
    inv = _missed_payment(stack, customer)
    portal = Path(sys.executable).with_name("portal")
    worker = subprocess.Popen([str(portal), "worker", "--workers", "1"],
                              env=_worker_env(stack.app), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        stack.app.extensions["portal.ticks"]["stripe-sync"]()  # as the scheduler would
        assert stack.settled(inv["id"], status="paid", amount_paid=3850)
        stack.app.extensions["portal.ticks"]["stripe-sync"]()  # again: nothing twice
        wait_for(lambda: stack.app.extensions["portal.huey"].pending_count() == 0)
    finally:
        worker.send_signal(signal.SIGTERM)  # graceful: the running tick finishes
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "portal.tasks.stripe-sync" in output
    stack.sandbox.control("faults", {"outage": False})
    assert stack.invoice(inv["id"])["amount_paid"] == 3850


def test_the_embedded_consumer_runs_the_same_ticks(stack, customer):
    inv = _missed_payment(stack, customer)
    host_handlers = [signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)]
    consumer = tasks.start_embedded(stack.app)
    assert [signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)] == host_handlers
    try:
        stack.app.extensions["portal.ticks"]["stripe-sync"]()
        assert stack.settled(inv["id"], status="paid", amount_paid=3850)
    finally:
        consumer.stop(graceful=True)

"""Background work for real: a missed webhook is recovered by the periodic Stripe sync, run by
a separate ``portal worker`` process or by the consumer ``portal demo``/``portal run`` embed,
without anyone pressing a button; a customer email queued by a page is sent by a worker."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from payments.events import processing
from payments.ledger import ledger
from portal import tasks
from tests.conftest import LINK_KEY
from tests.integration.conftest import WEBHOOK_SECRET, wait_for
from tests.mailbox import outbox_rows
from tests.portal.customer.test_renew import expire, press_the_button


@pytest.fixture
def stack_config() -> dict:
    """Tasks go on the real queue (a SQLite file) for a consumer to run."""
    return {"PORTAL_TASKS_IMMEDIATE": False}


def _missed_payment(stack, customer) -> dict:
    """An invoice paid at Stripe while its webhooks could not reach the portal."""
    stack.sandbox.control("faults", {"outage": True})
    inv = stack.paid_by_card(customer)
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


def _unapplied(stack) -> int:
    return processing.unapplied(stack.app.extensions["portal.db"])


def _verified(stack) -> bool:
    with stack.app.extensions["portal.db"].reader() as session:
        return ledger.verify(session) == []


def test_a_webhook_is_answered_before_it_is_applied_and_a_consumer_applies_it_once(
        stack, customer):
    stack.sandbox.control("faults", {"duplicate": True})  # every event delivered twice
    inv = stack.paid_by_card(customer)
    wait_for(lambda: not stack.sandbox.get("deliveries", status="pending")["data"])
    assert stack.invoice(inv["id"])["amount_paid"] == 0  # answered, stored, not applied
    stored = _unapplied(stack)
    assert stored > 0
    assert stack.app.extensions["portal.huey"].pending_count() == stored  # one task each
    consumer = tasks.start_embedded(stack.app, workers=2)
    try:
        assert stack.settled(inv["id"], status="paid", amount_paid=3850)
        wait_for(lambda: _unapplied(stack) == 0)
    finally:
        consumer.stop(graceful=True)
    assert _verified(stack)


def _stalled(huey, queued: int):
    seen: list[int] = []

    def check() -> bool:
        seen.append(huey.pending_count())
        return seen[-1] < queued and len(seen) >= 10 and len(set(seen[-10:])) == 1
    return check


class _Silent:
    """A "Stripe" that accepts connections and never answers: a read from it hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"


@pytest.mark.parametrize("stack_config", [{"PORTAL_TASKS_IMMEDIATE": False,
                                           "PORTAL_SWEEP_GRACE_SECONDS": 0}])
def test_a_consumer_killed_mid_task_loses_nothing_and_applies_once(stack, customer):
    inv = stack.paid_by_card(customer)
    wait_for(lambda: not stack.sandbox.get("deliveries", status="pending")["data"])
    huey = stack.app.extensions["portal.huey"]
    queued = huey.pending_count()
    silent = _Silent()
    env = {**_worker_env(stack.app), "STRIPE_API_BASE": silent.url}
    worker = subprocess.Popen([str(Path(sys.executable).with_name("portal")), "worker",
                               "--workers", "1", "--no-ticks"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        # The worker applies what needs no read, then takes a task that waits on Stripe and
        # holds it: once the queue stops shrinking, kill it there.
        wait_for(_stalled(huey, queued), timeout=30, interval=0.1)
        assert _unapplied(stack) > 0
    finally:
        worker.kill()
        worker.wait(10)
        silent.sock.close()
    # The killed task's event is stored and unapplied, and the queue no longer has its task.
    assert _unapplied(stack) > huey.pending_count()
    consumer = tasks.start_embedded(stack.app)
    try:
        wait_for(lambda: huey.pending_count() == 0)  # the tasks the queue still had
        # The consumer's scheduler sweeps every minute (and as it starts); sweep now too.
        stack.app.extensions["portal.ticks"]["events-sweep"]()
        wait_for(lambda: _unapplied(stack) == 0)
        assert stack.settled(inv["id"], status="paid", amount_paid=3850)
    finally:
        consumer.stop(graceful=True)
    assert _verified(stack)


def test_a_customer_email_is_queued_by_the_page_and_sent_by_a_worker_process(stack, inbox):
    smtp_url, received = inbox
    db = stack.app.extensions["portal.db"]
    url = stack.create_invoice()["pay_url"]
    expire(db, url)
    # Answered at once: the mail is queued for a worker, none is running yet.
    assert press_the_button(stack.app.test_client(), url).status_code == 200
    [email] = outbox_rows(db)
    assert email.status == "pending" and received.received == []
    worker = subprocess.Popen([str(Path(sys.executable).with_name("portal")), "worker",
                               "--workers", "1", "--no-ticks"],
                              env={**_worker_env(stack.app), "PORTAL_SMTP_URL": smtp_url},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: len(received.received) == 1)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    [(_recipients, message)] = received.received
    fresh = re.search(rf"{stack.url}/i/[A-Za-z0-9_-]{{43}}", message.get_content()).group(0)
    assert fresh != url and requests.get(fresh, timeout=10).status_code == 200
    assert outbox_rows(db)[0].status == "sent"

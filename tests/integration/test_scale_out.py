"""Scaled out for real: two portal instances (gunicorn, each on its own port) and two
``portal worker`` consumers sharing PostgreSQL and a Redis queue take 2,000 signed events
(real payments of the sandbox, redelivered and shuffled, plus events the portal ignores), and
every invoice ends as Stripe says, each payment once, the ledger verified.

PostgreSQL and Redis only (``PORTAL_TEST_DATABASE_URL``, Redis on 127.0.0.1:6379): the point is
several processes on shared servers, which SQLite and an in-process queue are not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import runner, webhook_data
from bench.webhooks import SECRET, free_port, send  # send signs with SECRET
from payments.checkout.models import Allocation
from payments.db import Database
from payments.events import processing
from payments.events.models import StripeEvent
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import Payment
from payments.stripe.gateway import StripeGateway
from tests.conftest import LINK_KEY
from tests.stripe_sandbox.conftest import serve

REDIS_URL = "redis://127.0.0.1:6379/13"
PAYMENTS = 60
EVENTS = 2000

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_queue():
    redis = pytest.importorskip("redis")
    try:
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def postgres(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes on one database: PostgreSQL only")
    return database_url


def _env(database_url: str, sandbox_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_REDIS_URL": REDIS_URL,
            "PORTAL_SECRET_KEY": "scale-out-secret", "PORTAL_LINK_KEY": LINK_KEY,
            "PORTAL_INSTANCE_PATH": str(tmp_path), "STRIPE_SECRET_KEY": "sk_test_scale",
            "STRIPE_API_BASE": sandbox_url, "STRIPE_WEBHOOK_SECRET": SECRET}


def _post_split(bases: list[str], stream: list[dict]) -> list[int]:
    """Every event to one of the instances, alternating, from 8 senders; the statuses."""
    jobs = [(f"{bases[n % len(bases)]}/stripe/webhook", json.dumps(e).encode())
            for n, e in enumerate(stream)]
    with ThreadPoolExecutor(8) as pool:
        return [status for _ms, status in pool.map(lambda job: send(*job), jobs)]


def _expected(db: Database, sandbox_url: str) -> dict[int, int]:
    """What each invoice should show as paid, from the PaymentIntents as Stripe has them now."""
    gateway = StripeGateway("sk_test_scale", sandbox_url, max_network_retries=0)
    with db.reader() as session:
        invoice_of = dict(session.execute(
            select(Allocation.attempt_id, Allocation.invoice_id)).all())
        intent_of = dict(session.execute(
            select(Payment.attempt_id, Payment.payment_intent_id)).all())
    expected = {}
    for attempt_id, invoice_id in invoice_of.items():
        paid = 0
        if attempt_id in intent_of:
            _intent, facts = gateway.payment_facts(intent_of[attempt_id])
            if facts is not None and facts.status == "succeeded":
                paid = webhook_data.AMOUNT - sum(r.amount for r in facts.reductions
                                                 if r.cause not in facts.failed_reductions)
        expected[invoice_id] = paid
    return expected


def test_two_instances_and_two_consumers_apply_every_event_once(
        postgres, redis_queue, tmp_path, app_factory):
    app_factory()  # the test database, migrated and empty
    sandboxes = serve({})
    sandbox = next(sandboxes)
    db = Database(postgres)
    try:
        webhook_data.seed_portal(db.engine, PAYMENTS)
        webhook_data.make_payments(sandbox.url, PAYMENTS)
        stream = webhook_data.stream(webhook_data.all_events(sandbox.url), EVENTS)
        env = _env(postgres, sandbox.url, tmp_path)
        portal = str(Path(sys.executable).with_name("portal"))
        with ExitStack() as stack:
            bases = [stack.enter_context(runner.server(
                "wsgi:app", free_port(), env, tmp_path / f"portal-{n}.log", "/logo", threads=4))
                for n in range(2)]
            for n in range(2):
                log = stack.enter_context(open(tmp_path / f"worker-{n}.log", "wb"))
                worker = subprocess.Popen([portal, "worker", "--workers", "2", "--no-ticks"],
                                          env=env, stdout=log, stderr=subprocess.STDOUT)
                stack.callback(worker.wait, 30)
                stack.callback(worker.terminate)
            statuses = _post_split(bases, stream)
            assert set(statuses) == {200}
            deadline = time.monotonic() + 180
            while processing.unapplied(db):
                assert time.monotonic() < deadline, f"{processing.unapplied(db)} events not applied"
                time.sleep(0.2)
        with db.reader() as session:
            assert ledger.verify(session) == []
            stored = session.scalar(select(func.count()).select_from(StripeEvent))
            assert stored == len({e["id"] for e in stream})  # each event stored once
            paid = dict(session.execute(select(Invoice.id, Invoice.amount_paid)).all())
            payments = session.scalar(select(func.count()).select_from(Payment))
        assert paid == _expected(db, sandbox.url)
        assert 0 < payments <= PAYMENTS
    finally:
        db.dispose()
        next(sandboxes, None)


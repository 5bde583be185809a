"""The database goes away mid-business (PostgreSQL behind a proxy that drops every connection
and refuses new ones) and comes back: a webhook, a pay button and a staff action each get a
clean answer while it is away, nothing is half-written, and what is tried again afterwards
applies once. PostgreSQL only: SQLite has no connection to lose.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from payments.checkout.models import PaymentAttempt
from payments.db import Database
from payments.ledger import ledger
from payments.ledger.models import Payment
from payments.staff.models import AuditEntry
from tests.integration.conftest import session_id, wait_for
from tests.integration.proxy import CuttableProxy
from tests.staff_helpers import csrf_token, logged_in, make_staff, post

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(database_url: str):
    """A cuttable proxy in front of the test's PostgreSQL database."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a database connection to cut: PostgreSQL only")
    parts = urlsplit(database_url)
    cuttable = CuttableProxy((parts.hostname, parts.port or 5432))
    yield cuttable
    cuttable.close()


@pytest.fixture
def stack_config(proxy, database_url: str) -> dict:
    """The portal reaches its database through the proxy."""
    parts = urlsplit(database_url)
    via = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    return {"PORTAL_DATABASE_URL": via}


def _count(db: Database, model) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_database_away_and_back(stack, proxy, customer, database_url, cheap_hashing):
    direct = Database(database_url)  # the test's own view, not through the proxy
    try:
        make_staff(direct, "clerk@acme.example", "clerk")
        clerk = logged_in(stack.app, "clerk@acme.example")
        paid, other = stack.create_invoice(), stack.create_invoice(external_id="ERP-2",
                                                                   number="INV-0002")
        checkout = customer.pay(paid["pay_url"]).headers["Location"]
        page = customer.get(other["pay_url"])
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        staff_csrf = csrf_token(clerk)
        attempts, audits = _count(direct, PaymentAttempt), _count(direct, AuditEntry)

        proxy.cut()
        # The customer pays at Stripe: its webhooks reach a portal without a database.
        stack.sandbox.control(f"checkout/sessions/{session_id(checkout)}/pay",
                              {"method": "card", "number": "4242424242424242"})
        pressed = customer.http.post(other["pay_url"] + "/pay", data={"csrf_token": csrf},
                                     allow_redirects=False, timeout=10)
        assert pressed.status_code == 503 and pressed.headers["Retry-After"] == "30"
        assert "Briefly unavailable" in pressed.text and "Traceback" not in pressed.text
        rotated = clerk.post(f"/staff/invoices/{other['id']}/link/rotate",
                             data={"csrf_token": staff_csrf})
        assert rotated.status_code == 503 and "Briefly unavailable" in rotated.get_data(True)
        api = requests.get(f"{stack.url}/api/v1/invoices", timeout=10,
                           headers={"Authorization": f"Bearer {stack.api_key}"})
        assert api.status_code == 503 and api.json()["error"]["code"] == "unavailable"
        assert (_count(direct, PaymentAttempt), _count(direct, AuditEntry)) == (attempts,
                                                                                 audits)
        assert _count(direct, Payment) == 0  # every webhook was refused, none half-applied

        proxy.restore()
        # Stripe (the sandbox) delivers again on its own backoff; it applies once.
        wait_for(lambda: stack.invoice(paid["id"])["status"] == "paid", timeout=40)
        assert customer.pay(other["pay_url"]).status_code == 303  # the button works again
        assert post(clerk, f"/staff/invoices/{other['id']}/link/rotate").status_code == 303
        with direct.reader() as session:
            assert session.scalar(select(func.count()).select_from(Payment)) == 1
            assert ledger.verify(session) == []
        assert _count(direct, AuditEntry) == audits + 1
    finally:
        direct.dispose()

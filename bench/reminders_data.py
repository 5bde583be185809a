"""The reminder benchmark's book: customers with collections settings, open invoices spread
over five months of due dates, and their pay links, bulk-inserted (Core, one transaction)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert

from bench.data import batches
from payments.collections.models import CollectionProfile, ContactWindow
from payments.collections.timing import Learned
from payments.invoicing.models import Customer, Invoice
from payments.links.models import PayLink
from payments.links.tokens import LinkKey, token_hash

ZONES = ("UTC", "America/New_York", "Europe/Paris")
STAFF = "clerk@bench.example"
PASSWORD = "bench password 0123456789"


def _customers(count: int, now: datetime) -> Iterator[dict]:
    for c in range(1, count + 1):
        yield {"id": c, "external_id": f"CUST-{c:06d}", "name": f"Customer {c} Ltd",
               "email": f"ap{c}@example.com", "created_at": now, "updated_at": now}


def _invoices(customers: int, invoices: int, anchor: date, now: datetime) -> Iterator[dict]:
    for i in range(invoices):
        due = anchor - timedelta(days=120) + timedelta(days=(i * 7919) % 150)
        total = 5_000 + (i * 37) % 500_000
        yield {"id": i + 1, "external_id": f"INV-{i:07d}", "customer_id": i % customers + 1,
               "number": f"{100000 + i}", "currency": "USD", "issue_date": due - timedelta(30),
               "due_date": due, "subtotal": total, "tax_amount": 0, "total": total,
               "allow_partial": False, "amount_paid": 0, "amount_pending": 0, "revision": 1,
               "content_hash": hashlib.sha256(b"%d" % i).hexdigest(), "created_at": now,
               "updated_at": now}


def _links(customers: int, invoices: int, key: LinkKey, now: datetime) -> Iterator[dict]:
    targets = [("invoice", i + 1) for i in range(invoices)]
    targets += [("statement", c) for c in range(1, customers + 1)]
    for scope, ident in targets:
        nonce = hashlib.sha256(f"bench-{scope}-{ident}".encode()).digest()
        yield {"scope": scope, "invoice_id": ident if scope == "invoice" else None,
               "customer_id": ident if scope == "statement" else None, "nonce": nonce,
               "token_hash": token_hash(key.token(nonce)), "created_at": now,
               "expires_at": now + timedelta(days=365), "revoked_at": None}


def _profiles(customers: int, now: datetime) -> Iterator[dict]:
    for c in range(1, customers + 1):
        usual = c % 21 if c % 2 == 0 else None
        learned = Learned(8, usual, f"{usual}.0", usual, usual) if usual is not None else None
        yield {"customer_id": c, "do_not_chase": c % 97 == 0, "learn_timing": True,
               "time_zone": ZONES[c % 3], "hours_start": 9, "hours_end": 17,
               "business_days": "12345", "learned": learned.as_json() if learned else None,
               "trend_flag": c % 50 == 0, "updated_at": now}


def seed(engine: Engine, customers: int, invoices: int, link_key: str, anchor: date) -> None:
    """Bulk-insert the book."""
    now = datetime.combine(anchor, datetime.min.time(), UTC)
    key = LinkKey(link_key.encode())
    with engine.begin() as conn:
        for table, rows in (
                (Customer.__table__, _customers(customers, now)),
                (Invoice.__table__, _invoices(customers, invoices, anchor, now)),
                (PayLink.__table__, _links(customers, invoices, key, now)),
                (CollectionProfile.__table__, _profiles(customers, now)),
                (ContactWindow.__table__, (
                    {"customer_id": c, "kind": "monthly", "start": "15", "end": "21",
                     "label": "away", "created_at": now} for c in range(1, customers + 1, 10)))):
            for batch in batches(rows):
                conn.execute(insert(table), batch)
        _staff(conn)


def _staff(conn) -> None:
    from sqlalchemy.orm import Session

    from payments.staff import accounts, audit

    with Session(bind=conn) as session:
        accounts.add(session, audit.CLI, STAFF, "clerk", PASSWORD)
        session.flush()


def login(app):
    """A test client of ``app`` signed in as the bench's clerk."""
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/staff/login", data={"email": STAFF, "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 302, response.status_code
    return client

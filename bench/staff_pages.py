"""The console's invoice and customer lists and pages over 100,000 invoices.

Builds a database of N invoices of M customers (SQLite file, or a PostgreSQL database of its
own, dropped and created again), with a ledger, payments and Stripe events for most of them,
then times the list searches, deep keyset pages, and the invoice and customer pages (best of
5 after a warm-up). On PostgreSQL it also prints the plan of the slowest list query.

    .venv/bin/python bench/staff_pages.py [--invoices 100000] [--customers 10000]
        [--url sqlite:////tmp/bench_staff.db | postgresql+psycopg://postgres@127.0.0.1:5432/bench_staff]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, make_url, text

if __package__ in (None, ""):  # run as a script: make ``payments`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from payments.console import (
    customer_page,  # noqa: E402
    invoice_page,  # noqa: E402
    lists,  # noqa: E402
)
from payments.db import Database, make_engine  # noqa: E402
from payments.events.models import StripeEvent  # noqa: E402
from payments.invoicing.models import Customer, Invoice  # noqa: E402
from payments.ledger.models import LedgerEntry, Payment  # noqa: E402
from payments.links.tokens import LinkKey  # noqa: E402
from payments.migrate import upgrade  # noqa: E402

KEY = LinkKey(b"k" * 32)
TODAY = date(2026, 6, 1)
BATCH = 5000


def _fresh(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database).unlink(missing_ok=True)
        return
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _rows(n: int, customers: int):
    """Invoices issued over two years; 85 % paid (ledger, payment, two events), 1 % void."""
    now = datetime(2026, 6, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        issued = TODAY - timedelta(days=730 * (n - i) // n)
        paid = i % 100 < 85
        yield {"id": i, "external_id": f"ERP-{i}", "customer_id": 1 + (i * 7919) % customers,
               "number": f"INV-{i:07d}", "currency": "USD", "issue_date": issued,
               "due_date": issued + timedelta(days=30), "subtotal": 10_000, "tax_amount": 0,
               "total": 10_000, "amount_paid": 10_000 if paid else 0, "amount_pending": 0,
               "voided_at": now if i % 100 == 99 else None, "revision": 1,
               "content_hash": "x", "created_at": now, "updated_at": now}, paid


def build(url: str, n: int, customers: int) -> Database:
    """Migrate a fresh database and fill it."""
    _fresh(url)
    upgrade(make_engine(url))
    db = Database(url)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with db.transaction() as s:
        s.execute(insert(Customer), [{"id": c, "external_id": f"C-{c}", "name": f"Customer {c}",
                                      "email": f"ap{c}@example.com", "created_at": now,
                                      "updated_at": now} for c in range(1, customers + 1)])
    invoices, entries, payments, events = [], [], [], []
    for row, paid in _rows(n, customers):
        invoices.append(row)
        if paid:
            i, pi = row["id"], f"pi_{row['id']}"
            payments.append({"id": i, "payment_intent_id": pi, "customer_id": row["customer_id"],
                             "currency": "USD", "amount": 10_000, "status": "succeeded",
                             "amount_refunded": 0, "amount_disputed": 0, "created_at": now,
                             "updated_at": now})
            entries.append({"invoice_id": i, "payment_id": i, "kind": "payment",
                            "paid_delta": 10_000, "pending_delta": 0, "cause": f"{pi}:paid",
                            "created_at": datetime.combine(row["issue_date"], datetime.min.time(),
                                                           UTC) + timedelta(days=i % 50)})
            for kind in ("payment_intent.succeeded", "charge.succeeded"):
                events.append({"id": f"evt_{kind[0]}_{i}", "type": kind, "created": i,
                               "payload": json.dumps({"data": {"object": {"id": pi}}}),
                               "source": "webhook", "received_at": now, "payment_ref": pi})
    with db.transaction() as s:
        for model, rows in ((Invoice, invoices), (Payment, payments), (LedgerEntry, entries),
                            (StripeEvent, events)):
            for start in range(0, len(rows), BATCH):
                s.execute(insert(model), rows[start:start + BATCH])
    if db.is_sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return db


def timed(label: str, work) -> None:
    """Best and median of 5 runs after a warm-up."""
    work()
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        work()
        runs.append((time.perf_counter() - start) * 1000)
    runs.sort()
    print(f"{label:<46} best {runs[0]:7.1f} ms   median {runs[2]:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--url", default="sqlite:////tmp/bench_staff.db")
    args = parser.parse_args()
    start = time.perf_counter()
    db = build(args.url, args.invoices, args.customers)
    print(f"built {args.invoices} invoices in {time.perf_counter() - start:.0f} s")
    n = args.invoices
    cases = {
        "invoices, first page": dict(),
        "invoices, page deep in the list (keyset)": dict(cursor=n // 50),
        "invoices, status=open": dict(status="open"),
        "invoices, status=void": dict(status="void"),
        "invoices, search by number": dict(q=f"INV-{n // 2:07d}"),
        "invoices, search customer name (many)": dict(q="customer 1"),
        "invoices, search nothing found": dict(q="no such thing"),
    }
    with db.reader() as s:
        for label, kwargs in cases.items():
            timed(label, lambda kw=kwargs: lists.invoices(s, TODAY, **kw))
        timed("customers, first page", lambda: lists.customers(s))
        timed("customers, deep page (keyset)", lambda: lists.customers(s, cursor=9000))
        timed("customers, search name", lambda: lists.customers(s, q="customer 99"))
        timed("invoice page", lambda: invoice_page.load(s, n // 2 + 1, KEY, TODAY))
        timed("customer page", lambda: customer_page.load(s, 42, KEY, TODAY))
    db.dispose()


if __name__ == "__main__":
    main()

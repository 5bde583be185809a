"""Deterministic bench data: invoice ``i`` always has the same number, lines and balances.

The seeder writes it to SQLite with bulk core inserts; the baseline app builds the very same
values in memory, so both servers render identical pages.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, insert

from payments.invoicing.models import Customer, Invoice
from payments.links.models import PayLink
from payments.links.tokens import LinkKey, token_hash

# Invoices with a fixed shape, for the PDF timings (the others have 1 to 10 lines).
WARMUP, TEN_LINES, BIG = 0, 1, 2
_SPECIAL_LINES = {WARMUP: 5, TEN_LINES: 10, BIG: 200}
INVOICES_PER_CUSTOMER = 10
BATCH = 20_000
_LINES_SQL = ("INSERT INTO invoice_lines (invoice_id, position, description, quantity, unit_amount,"
              " amount) VALUES (?, ?, ?, ?, ?, ?)")


def customer_count(invoices: int) -> int:
    """How many customers share ``invoices`` invoices."""
    return max(1, invoices // INVOICES_PER_CUSTOMER)


def customer_id_of(i: int, invoices: int) -> int:
    """The customer id (1-based) of invoice ``i``."""
    return i % customer_count(invoices) + 1


def customer_name(customer_id: int) -> str:
    """Display name of a bench customer."""
    return f"Customer {customer_id} & Sons Ltd."


def lines(i: int) -> list[dict]:
    """The lines of invoice ``i``: position, description, quantity, unit_amount, amount."""
    count = _SPECIAL_LINES.get(i, 1 + (i * 7) % 10)
    out = []
    for k in range(1, count + 1):
        qty = 1 + (i + k) % 5
        unit = 1_000 + (i * 37 + k * 101) % 90_000
        out.append({"position": k, "description": f"Widget service, model {k}, period {i}",
                    "quantity": str(qty), "unit_amount": unit, "amount": qty * unit})
    return out


def invoice(i: int, invoices: int, anchor: date, its_lines: list[dict] | None = None) -> dict:
    """The columns of invoice ``i`` (id ``i + 1``), as the seeder inserts them."""
    subtotal = sum(line["amount"] for line in (its_lines or lines(i)))
    tax = subtotal * 8 // 100
    total = subtotal + tax
    paid = {0: total, 1: total // 3}.get(i % 5, 0) if i not in _SPECIAL_LINES else 0
    issue = anchor - timedelta(days=i % 90)
    now = datetime.combine(anchor, datetime.min.time(), UTC)
    return {
        "id": i + 1, "external_id": f"INV-{i:07d}", "customer_id": customer_id_of(i, invoices),
        "number": f"{100000 + i}", "currency": "USD", "issue_date": issue,
        "due_date": issue + timedelta(days=30), "terms": "Net 30",
        "memo": "Thank you for your business." if i % 3 == 0 else None,
        "subtotal": subtotal, "tax_amount": tax, "total": total, "allow_partial": i % 4 == 0,
        "min_partial_amount": None, "amount_paid": paid,
        "amount_pending": 500 if i % 11 == 0 and paid < total else 0, "voided_at": None,
        "revision": 1, "content_hash": hashlib.sha256(b"%d" % i).hexdigest(),
        "created_at": now, "updated_at": now,
    }


def nonce(scope: str, ident: int) -> bytes:
    """A fixed 32-byte nonce per link, so a re-run gives the same tokens for the same key."""
    return hashlib.sha256(f"bench-{scope}-{ident}".encode()).digest()


def seed(engine: Engine, invoices: int, key: LinkKey, anchor: date) -> None:
    """Bulk-insert customers, invoices, lines and pay links (one transaction, core inserts)."""
    now = datetime.combine(anchor, datetime.min.time(), UTC)
    customers = customer_count(invoices)
    with engine.begin() as conn:
        for rows in batches(
            {"id": c, "external_id": f"CUST-{c:06d}", "name": customer_name(c),
             "email": f"ap{c}@example.com", "created_at": now, "updated_at": now}
            for c in range(1, customers + 1)
        ):
            conn.execute(insert(Customer.__table__), rows)
        for start in range(0, invoices, BATCH):
            _seed_invoices(conn, range(start, min(start + BATCH, invoices)), invoices, anchor)
        for rows in batches(_links(invoices, customers, key, now)):
            conn.execute(insert(PayLink.__table__), rows)


def _seed_invoices(conn: Connection, indexes: range, invoices: int, anchor: date) -> None:
    rows, line_rows = [], []
    for i in indexes:
        its_lines = lines(i)
        rows.append(invoice(i, invoices, anchor, its_lines))
        line_rows += [(i + 1, ln["position"], ln["description"], ln["quantity"],
                       ln["unit_amount"], ln["amount"]) for ln in its_lines]
    conn.execute(insert(Invoice.__table__), rows)
    # Half a million plain rows: skip per-row parameter processing (no dates, nothing to adapt).
    sql = _LINES_SQL if conn.dialect.paramstyle == "qmark" else _LINES_SQL.replace("?", "%s")
    conn.exec_driver_sql(sql, line_rows)


def _links(invoices: int, customers: int, key: LinkKey, now: datetime) -> Iterator[dict]:
    targets = [("invoice", i + 1) for i in range(invoices)]
    targets += [("statement", c) for c in range(1, customers + 1)]
    for scope, ident in targets:
        n = nonce(scope, ident)
        yield {"scope": scope, "invoice_id": ident if scope == "invoice" else None,
               "customer_id": ident if scope == "statement" else None, "nonce": n,
               "token_hash": token_hash(key.token(n)), "created_at": now,
               "expires_at": now + timedelta(days=365), "revoked_at": None}


def batches(rows: Iterator[dict]) -> Iterator[list[dict]]:
    """``rows`` in lists of :data:`BATCH`, for bulk inserts."""
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def invoice_token(key: LinkKey, i: int) -> str:
    """The pay-link token of invoice ``i``."""
    return key.token(nonce("invoice", i + 1))


def sample(invoices: int, count: int, seed_value: int = 1) -> list[int]:
    """``count`` random invoice indexes (the fixed-shape PDF invoices left out)."""
    pool = range(len(_SPECIAL_LINES), invoices)
    return random.Random(seed_value).sample(pool, min(count, len(pool)))

"""What the console reads, added to bench/data.py's invoices: payments, the ledger behind the
seeded balances, exceptions, and the clerk the benchmark logs in as (bench/console.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from bench import data
from payments.checkout.models import Allocation, PaymentAttempt
from payments.invoicing.models import Invoice
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException
from payments.staff import accounts, audit

STAFF, PASSWORD = "clerk@bench.example", "bench password, not a secret"
EXCEPTIONS, KINDS = 400, ("unmatched_payment", "overpayment", "reversal_after_confirmation")


def _day(d: date, anchor: date) -> datetime:
    return datetime.combine(min(d, anchor), datetime.min.time(), UTC)


def _payment_rows(inv, k: int, kind: str, amount: int, anchor: date) -> dict[str, list[dict]]:
    """Attempt, allocation, payment and ledger entry ``k`` for ``amount`` of invoice ``inv``."""
    pending = kind == "pending"
    paid_on = inv.issue_date + timedelta(days=3 if pending else 5 + inv.id % 20)
    if paid_on > anchor:  # spread over the days since issue rather than piling up today
        paid_on = inv.issue_date + (anchor - inv.issue_date) * (inv.id % 7) // 7
    at = _day(paid_on, anchor)
    pi = f"pi_bench_{k}"
    unconfirmed = pending or inv.id % 50 == 0 or at >= _day(anchor - timedelta(days=1), anchor)
    return {
        "attempts": [{"id": k, "reference": f"pa_bench_{k}", "customer_id": inv.customer_id,
                      "currency": inv.currency, "amount": amount, "fingerprint": f"{k:064d}",
                      "status": "completed", "payment_intent_id": pi, "created_at": at}],
        "allocations": [{"attempt_id": k, "invoice_id": inv.id, "amount": amount}],
        "payments": [{"id": k, "payment_intent_id": pi, "attempt_id": k,
                      "customer_id": inv.customer_id, "currency": inv.currency, "amount": amount,
                      "method": "us_bank_account" if pending or k % 4 == 0 else "card",
                      "status": "pending" if pending else "succeeded", "amount_refunded": 0,
                      "amount_disputed": 0, "match_reason": "attempt_reference",
                      "confirmed_at": None if unconfirmed else at + timedelta(days=1),
                      "synced_at": at, "created_at": at, "updated_at": at}],
        "ledger": [{"invoice_id": inv.id, "payment_id": k, "kind": kind,
                    "paid_delta": 0 if pending else amount, "pending_delta": amount if pending
                    else 0, "cause": f"{pi}:{kind}", "created_at": at}],
    }


def seed_console_data(engine: Engine, anchor: date) -> dict[str, int]:
    """Payments, the ledger entries behind the seeded balances, and exceptions; returns counts."""
    tables = {"attempts": PaymentAttempt, "allocations": Allocation, "payments": Payment,
              "ledger": LedgerEntry}
    rows: dict[str, list[dict]] = {name: [] for name in tables}
    with engine.begin() as conn:
        invoices = conn.execute(select(
            Invoice.id, Invoice.customer_id, Invoice.currency, Invoice.issue_date,
            Invoice.amount_paid, Invoice.amount_pending).order_by(Invoice.id)).all()
        for inv in invoices:
            for kind, amount in (("payment", inv.amount_paid), ("pending", inv.amount_pending)):
                if amount > 0:
                    made = _payment_rows(inv, len(rows["payments"]) + 1, kind, amount, anchor)
                    for name, new in made.items():
                        rows[name] += new
        for name, model in tables.items():
            for start in range(0, len(rows[name]), data.BATCH):
                conn.execute(insert(model.__table__), rows[name][start:start + data.BATCH])
        payments = len(rows["payments"])
        conn.execute(insert(ReconciliationException.__table__), [
            {"kind": KINDS[k % 3], "cause": f"bench:{k}", "payment_id": 1 + k * 97 % payments,
             "invoice_id": None if k % 3 == 0 else rows["ledger"][k * 97 % payments]["invoice_id"],
             "amount": 1000 + k, "currency": "USD",
             "details": '{"suggestions": []}' if k % 3 == 0 else "{}",
             "created_at": _day(anchor, anchor), "resolved_at": _day(anchor, anchor)
             if k % 4 == 0 else None, "resolved_by": STAFF if k % 4 == 0 else None,
             "resolution": '{"action": "dismiss", "reason": "bench"}' if k % 4 == 0 else None}
            for k in range(1, EXCEPTIONS + 1)])
    with Session(engine) as session, session.begin():
        accounts.add(session, audit.CLI, STAFF, "clerk", PASSWORD)
    return {"invoices": len(invoices), "payments": payments, "exceptions": EXCEPTIONS,
            "unconfirmed": sum(p["confirmed_at"] is None and p["status"] == "succeeded"
                               for p in rows["payments"])}

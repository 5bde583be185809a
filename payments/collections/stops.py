"""Why an invoice must not be chased right now — checked when a reminder is written (with the
invoices locked) and again just before the mail relay gets it, never only when it was planned.

Each rule in :data:`RULES` looks at the invoices of one customer and names the ones it stops,
with a reason in words. A payment recorded one second before the check stops the reminder;
one recorded after the relay took the message is too late for anybody.

Commercial disputes and payment plans add their rules here when they land.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.collections.models import CollectionProfile, InvoiceChase, Promise
from payments.invoicing.models import Invoice
from payments.money import format_money


@dataclass(frozen=True)
class Facts:
    """One customer's invoices as they are now, read under the caller's lock."""

    customer_id: int
    invoices: Sequence[Invoice]
    today: date  # the customer's local day


Rule = Callable[[Session, Facts], dict[int, str]]


def _settled(_session: Session, facts: Facts) -> dict[int, str]:
    return {i.id: "void" if i.voided_at is not None else "paid"
            for i in facts.invoices if i.voided_at is not None or i.amount_paid >= i.total}


def _clearing(_session: Session, facts: Facts) -> dict[int, str]:
    return {i.id: f"{format_money(i.amount_pending, i.currency)} is clearing (bank debit)"
            for i in facts.invoices if i.amount_pending > 0}


def _held(session: Session, facts: Facts) -> dict[int, str]:
    if session.scalar(select(CollectionProfile.do_not_chase)
                      .where(CollectionProfile.customer_id == facts.customer_id)):
        return {i.id: "the customer is marked do not chase" for i in facts.invoices}
    held = session.scalars(select(InvoiceChase.invoice_id).where(
        InvoiceChase.invoice_id.in_([i.id for i in facts.invoices]), InvoiceChase.do_not_chase))
    return {invoice_id: "the invoice is marked do not chase" for invoice_id in held}


def _promised(session: Session, facts: Facts) -> dict[int, str]:
    promise = session.scalars(
        select(Promise).where(Promise.customer_id == facts.customer_id,
                              Promise.status == "open", Promise.promised_on >= facts.today)
        .order_by(Promise.promised_on.desc()).limit(1)).first()
    if promise is None:
        return {}
    reason = (f"a promise to pay {format_money(promise.amount, promise.currency)} by "
              f"{promise.promised_on.isoformat()}")
    return {i.id: reason for i in facts.invoices}


RULES: list[tuple[str, Rule]] = [
    ("settled", _settled),
    ("clearing", _clearing),
    ("do-not-chase", _held),
    ("promise", _promised),
]


def check(session: Session, customer_id: int, invoice_ids: Sequence[int], today: date,
          lock: bool = False) -> dict[int, str]:
    """The invoices among ``invoice_ids`` that must not be chased now, with the first rule's
    reason. ``lock`` takes their rows FOR UPDATE first (PostgreSQL; SQLite's writer holds the
    database), so a payment committing meanwhile is waited for and then seen."""
    query = select(Invoice).where(Invoice.id.in_(invoice_ids)).order_by(Invoice.id)
    if lock:
        query = query.with_for_update()
    invoices = session.scalars(query.execution_options(populate_existing=True)).all()
    missing = set(invoice_ids) - {i.id for i in invoices}
    stopped = {invoice_id: "the invoice is gone" for invoice_id in missing}
    facts = Facts(customer_id, invoices, today)
    for _name, rule in RULES:
        for invoice_id, reason in rule(session, facts).items():
            stopped.setdefault(invoice_id, reason)
    return stopped

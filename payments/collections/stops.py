"""Why an invoice must not be chased right now — checked when a reminder is written (with the
invoices locked) and again just before the mail relay gets it, never only when it was planned.

Each rule in :data:`RULES` looks at the invoices of some customers (a tick checks a batch at
once) and names the ones it stops, with a reason in words. A payment recorded one second
before the check stops the reminder; one recorded after the relay took the message is too
late for anybody.

Card disputes (chargebacks) stop reminders on the invoice they took money from; a commercial
dispute over everything still open stops them until staff resolve it; payment plans add their
rule here when they land.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments.collections.models import CollectionProfile, InvoiceChase, Promise
from payments.db import among
from payments.disputes.models import ACTIVE, REASONS, Dispute
from payments.invoicing.models import Invoice
from payments.ledger.models import LedgerEntry
from payments.money import format_money


@dataclass(frozen=True)
class Facts:
    """Some customers' invoices as they are now, read under the caller's lock, and each
    customer's local day."""

    invoices: Sequence[Invoice]
    today: Mapping[int, date]  # customer id → its local day


Rule = Callable[[Session, Facts], dict[int, str]]


def _settled(_session: Session, facts: Facts) -> dict[int, str]:
    return {i.id: "void" if i.voided_at is not None else "paid"
            for i in facts.invoices if i.voided_at is not None or i.amount_paid >= i.total}


def _clearing(_session: Session, facts: Facts) -> dict[int, str]:
    return {i.id: f"{format_money(i.amount_pending, i.currency)} is clearing (bank debit)"
            for i in facts.invoices if i.amount_pending > 0}


def _held(session: Session, facts: Facts) -> dict[int, str]:
    customers = set(session.scalars(select(CollectionProfile.customer_id).where(
        among(session, CollectionProfile.customer_id, facts.today),
        CollectionProfile.do_not_chase)))
    held = set(session.scalars(select(InvoiceChase.invoice_id).where(
        among(session, InvoiceChase.invoice_id, [i.id for i in facts.invoices]),
        InvoiceChase.do_not_chase)))
    return {i.id: "the customer is marked do not chase" if i.customer_id in customers
            else "the invoice is marked do not chase"
            for i in facts.invoices if i.customer_id in customers or i.id in held}


def _promised(session: Session, facts: Facts) -> dict[int, str]:
    reasons: dict[int, str] = {}
    for promise in session.scalars(
            select(Promise).where(among(session, Promise.customer_id, facts.today),
                                  Promise.status == "open",
                                  Promise.promised_on >= min(facts.today.values()))
            .order_by(Promise.promised_on)):
        if promise.promised_on >= facts.today[promise.customer_id]:
            reasons[promise.customer_id] = promise.words()
    return {i.id: reasons[i.customer_id] for i in facts.invoices if i.customer_id in reasons}


def _card_disputed(session: Session, facts: Facts) -> dict[int, str]:
    # A chargeback took money back from the invoice and was not reversed: the customer is
    # disputing with its bank, and an automatic "please pay" would only make it worse; staff
    # follow it up (the exceptions queue has it).
    kinds = ("dispute_withdrawal", "dispute_reinstatement")
    rows = session.execute(
        select(LedgerEntry.invoice_id, func.sum(LedgerEntry.paid_delta))
        .where(among(session, LedgerEntry.invoice_id, [i.id for i in facts.invoices]),
               LedgerEntry.kind.in_(kinds))
        .group_by(LedgerEntry.invoice_id))
    currency = {i.id: i.currency for i in facts.invoices}
    return {iid: f"a card dispute took back {format_money(-int(taken), currency[iid])}"
            for iid, taken in rows if taken < 0}


def _in_dispute(session: Session, facts: Facts) -> dict[int, str]:
    # A commercial dispute covering all that is open: nothing is left to ask for until staff
    # resolve it (a dispute over part of the invoice leaves the rest to remind about, and
    # the reminder leaves the disputed amount out).
    invoices = {i.id: i for i in facts.invoices}
    found = session.execute(select(Dispute.invoice_id, Dispute.amount, Dispute.reason).where(
        among(session, Dispute.invoice_id, list(invoices)), Dispute.status.in_(ACTIVE)))
    return {iid: f"in dispute ({REASONS[reason].lower()}: "
                 f"{format_money(amount, invoices[iid].currency)})"
            for iid, amount, reason in found
            if amount >= invoices[iid].total - invoices[iid].amount_paid
            - invoices[iid].amount_pending}


RULES: list[tuple[str, Rule]] = [
    ("settled", _settled),
    ("clearing", _clearing),
    ("card-dispute", _card_disputed),
    ("dispute", _in_dispute),
    ("do-not-chase", _held),
    ("promise", _promised),
]


def load(session: Session, invoice_ids: Sequence[int], lock: bool = False) -> list[Invoice]:
    """The invoices as they are now; ``lock`` takes their rows FOR UPDATE first (PostgreSQL;
    SQLite's writer holds the database), so a payment committing meanwhile is waited for and
    then seen. Keep the list: the session holds its objects only while someone does."""
    query = select(Invoice).where(among(session, Invoice.id, invoice_ids)).order_by(Invoice.id)
    if lock:
        query = query.with_for_update()
    return list(session.scalars(query.execution_options(populate_existing=True)))


def check(session: Session, invoices: Sequence[Invoice], today: Mapping[int, date],
          wanted: Sequence[int] = ()) -> dict[int, str]:
    """The ``invoices`` (from :func:`load`) that must not be chased now, with the first
    rule's reason; ``today`` gives each of their customers' local day; any of the ``wanted``
    ids missing from the invoices is gone."""
    missing = set(wanted) - {i.id for i in invoices}
    stopped = {invoice_id: "the invoice is gone" for invoice_id in missing}
    if not invoices:
        return stopped
    facts = Facts(invoices, today)
    for _name, rule in RULES:
        for invoice_id, reason in rule(session, facts).items():
            stopped.setdefault(invoice_id, reason)
    return stopped

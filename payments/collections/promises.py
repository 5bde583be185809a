"""Promises to pay: what a customer told staff it will pay, and by when.

Staff record a promise (:func:`record`, audited): an amount no larger than what the customer
owes in that currency on its open invoices, due today at the earliest and at most
:data:`MAX_DAYS_AHEAD` days ahead. A customer has at most one open promise per currency: a new
one replaces (cancels) the old, because the customer's latest word is the one to hold it to
(an old one whose day has passed is settled instead: a broken promise stays on the record).
While a promise is :func:`active`, reminders pause; the day after its date :func:`settle_due`
(run daily by the reminder tick) settles it: ``kept`` when the customer's payments since the
promise was made reach its amount, else ``broken`` — and the worklist raises the account
until staff talk to the customer again (a logged call or a new promise: :func:`follow_up`).

"Payments since" are the ledger's money entries on the customer's invoices in that currency,
made at or after the promise: Stripe payments (``payment_id``), their refunds and reversals
(negative), and payments staff applied from the exceptions queue (``staff_payment_id``: a
bank transfer that arrived without its reference is still the customer paying). Write-offs
are nobody's money and do not keep a promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections.models import Promise
from payments.invoicing.models import Customer, Invoice
from payments.ledger.models import LedgerEntry
from payments.money import format_money
from payments.staff import audit

MAX_DAYS_AHEAD = 90
MAX_CONTACT = 200  # the column's length
MAX_NOTE = 4000


class PromiseError(ValueError):
    """A promise that cannot be recorded or canceled; ``fields`` say what is wrong, per form
    field (``amount``, ``currency``, ``promised_on``, ``contact``, ``note``)."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


@dataclass(frozen=True)
class Terms:
    """What the customer promised, as a form gave it (a call's promise outcome carries one)."""

    amount: int
    currency: str
    promised_on: date
    contact: str | None = None
    note: str | None = None


def owed(session: Session, customer_id: int) -> dict[str, int]:
    """What the customer owes on its open (not void) invoices, per currency, in minor units."""
    rows = session.execute(
        select(Invoice.currency, func.sum(Invoice.total - Invoice.amount_paid))
        .where(Invoice.customer_id == customer_id, Invoice.voided_at.is_(None),
               Invoice.amount_paid < Invoice.total)
        .group_by(Invoice.currency))
    return {currency: int(amount) for currency, amount in rows}


def record(session: Session, actor: audit.Actor, customer_id: int, amount: int, currency: str,
           promised_on: date, contact: str | None, note: str | None, today: date) -> Promise:
    """Record the customer's promise to pay ``amount`` ``currency`` by ``promised_on``,
    replacing its open promise in that currency, audited (``promise.record``).

    Raises :class:`PromiseError` (nothing written) for a non-staff actor, an unknown customer,
    a currency it owes nothing in, an amount not above zero or above what it owes, a date in
    the past or more than :data:`MAX_DAYS_AHEAD` days ahead, or a too long contact or note.
    """
    if actor.id is None:
        raise PromiseError("Only a staff user can record a promise.")
    # Row-locks the customer (PostgreSQL): two clerks recording at once take turns, so the
    # second replaces the first and one promise per currency stays open.
    found = session.scalar(select(Customer.id).where(Customer.id == customer_id)
                           .with_for_update())
    if found is None:
        raise PromiseError("There is no such customer.")
    contact, note = _clean(contact), _clean(note)
    _check(owed(session, customer_id), amount, currency, promised_on, contact, note, today)
    # An old promise whose day has passed is settled, not replaced: a broken one stays broken.
    settle_due(session, today, customer_id)
    replaced = _replace(session, customer_id, currency)
    followed = follow_up(session, customer_id)  # the customer made a new promise: talked to
    promise = Promise(customer_id=customer_id, amount=amount, currency=currency,
                      promised_on=promised_on, contact=contact, note=note, status="open",
                      created_by=actor.label, created_at=utcnow())
    session.add(promise)
    session.flush()
    audit.record(session, actor, "promise.record", ("customer", customer_id),
                 _facts(replaced) if replaced is not None else None,
                 {**_facts(promise), "followed_up": followed})
    return promise


def _clean(text: str | None) -> str | None:
    text = (text or "").replace("\r\n", "\n").strip()
    return text or None


def _check(owes: dict[str, int], amount: int, currency: str, promised_on: date,
           contact: str | None, note: str | None, today: date) -> None:
    """Every field's problem at once, so the clerk fixes the form in one go."""
    fields: dict[str, str] = {}
    if currency not in owes:
        known = ", ".join(sorted(owes)) or "none"
        fields["currency"] = (f"The customer has no open invoices in {currency or 'that'}"
                              f" currency (open in: {known}).")
    elif amount <= 0:
        fields["amount"] = "Enter an amount greater than zero."
    elif amount > owes[currency]:
        fields["amount"] = (f"That is more than the customer owes in {currency} on open "
                            f"invoices ({format_money(owes[currency], currency)}).")
    latest = today + timedelta(days=MAX_DAYS_AHEAD)
    if promised_on < today:
        fields["promised_on"] = f"The date has passed: promise a day from {today} on."
    elif promised_on > latest:
        fields["promised_on"] = (f"Promises reach at most {MAX_DAYS_AHEAD} days ahead "
                                 f"(to {latest}); agree on a payment plan instead.")
    if contact is not None and len(contact) > MAX_CONTACT:
        fields["contact"] = f"Who promised: at most {MAX_CONTACT} characters."
    if note is not None and len(note) > MAX_NOTE:
        fields["note"] = f"The note can be at most {MAX_NOTE} characters (it has {len(note)})."
    if fields:
        raise PromiseError(" ".join(fields.values()), fields)


def _replace(session: Session, customer_id: int, currency: str) -> Promise | None:
    """Cancel the customer's open promise in ``currency`` (the new one replaces it)."""
    old = session.scalars(select(Promise).where(
        Promise.customer_id == customer_id, Promise.currency == currency,
        Promise.status == "open").order_by(Promise.id.desc())).first()
    if old is None:
        return None
    done = session.execute(update(Promise).where(Promise.id == old.id, Promise.status == "open")
                           .values(status="canceled", settled_at=utcnow())
                           .execution_options(synchronize_session=False))
    return old if done.rowcount == 1 else None


def follow_up(session: Session, customer_id: int) -> list[int]:
    """Mark the customer's broken promises followed up (staff talked to the customer since:
    the worklist stops raising them); returns their ids."""
    done = session.execute(update(Promise).where(
        Promise.customer_id == customer_id, Promise.status == "broken",
        Promise.followed_up_at.is_(None)).values(followed_up_at=utcnow())
        .returning(Promise.id).execution_options(synchronize_session=False))
    return sorted(row[0] for row in done)


def _facts(promise: Promise) -> dict:
    return {"promise_id": promise.id, "amount": promise.amount, "currency": promise.currency,
            "promised_on": promise.promised_on.isoformat(), "contact": promise.contact,
            "note": promise.note, "status": promise.status}


def cancel(session: Session, actor: audit.Actor, promise_id: int) -> Promise:
    """Cancel an open promise (the customer withdrew it, or it was recorded by mistake);
    reminders resume. Audited (``promise.cancel``); :class:`PromiseError` if it is not open."""
    if actor.id is None:
        raise PromiseError("Only a staff user can cancel a promise.")
    promise = session.get(Promise, promise_id)
    if promise is None:
        raise PromiseError("There is no such promise.")
    # Conditional: of two clerks canceling at once, or a cancel racing the daily settling,
    # exactly one changes the row.
    done = session.execute(update(Promise).where(Promise.id == promise_id,
                                                 Promise.status == "open")
                           .values(status="canceled", settled_at=utcnow())
                           .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        session.refresh(promise)
        raise PromiseError(f"This promise is no longer open: it is {promise.status}.")
    before = _facts(promise)
    session.refresh(promise)
    audit.record(session, actor, "promise.cancel", ("customer", promise.customer_id),
                 before, _facts(promise))
    return promise


def paid_since():
    """The SQL of a promise's "payments since" (see the module), correlated to
    :class:`Promise`: the net money entries on its customer's invoices in its currency."""
    return (select(func.coalesce(func.sum(LedgerEntry.paid_delta), 0))
            .join(Invoice, Invoice.id == LedgerEntry.invoice_id)
            .where(Invoice.customer_id == Promise.customer_id,
                   Invoice.currency == Promise.currency,
                   or_(LedgerEntry.payment_id.is_not(None),
                       LedgerEntry.staff_payment_id.is_not(None)),
                   LedgerEntry.created_at >= Promise.created_at)
            .correlate(Promise).scalar_subquery())


def settle_due(session: Session, today: date, customer_id: int | None = None
               ) -> list[Promise]:
    """Settle every open promise (of one customer, or all) whose date is before ``today``:
    ``kept`` or ``broken`` (see the module). Idempotent, and safe on two machines at once:
    each row changes only while still open, so a promise settles once; returns the promises
    this call settled."""
    scope = [Promise.status == "open", Promise.promised_on < today]
    if customer_id is not None:
        scope.append(Promise.customer_id == customer_id)
    due = session.execute(select(Promise.id, paid_since() >= Promise.amount)
                          .where(*scope)).all()
    kept = [pid for pid, reached in due if reached]
    broken = [pid for pid, reached in due if not reached]
    settled = _settle(session, kept, "kept") + _settle(session, broken, "broken")
    if not settled:
        return []
    return list(session.scalars(select(Promise).where(Promise.id.in_(settled))
                                .order_by(Promise.id).execution_options(populate_existing=True)))


def _settle(session: Session, ids: Sequence[int], status: str) -> list[int]:
    if not ids:
        return []
    done = session.execute(update(Promise).where(Promise.id.in_(ids), Promise.status == "open")
                           .values(status=status, settled_at=utcnow())
                           .returning(Promise.id).execution_options(synchronize_session=False))
    return [row[0] for row in done]


def active(session: Session, customer_id: int, today: date) -> list[Promise]:
    """The customer's open promises whose date is today or later (they pause reminders),
    soonest first."""
    return list(session.scalars(select(Promise).where(
        Promise.customer_id == customer_id, Promise.status == "open",
        Promise.promised_on >= today).order_by(Promise.promised_on, Promise.id)))

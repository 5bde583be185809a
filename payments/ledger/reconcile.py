"""Bring one payment in line with Stripe: find or create it, map it to its allocations, let
the ledger converge, and raise the exceptions staff need to see.

Always decided from the PaymentIntent as it is *now* (read through the gateway), never from an
event's possibly stale snapshot, so any order of events gives the same result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from payments.checkout.models import PaymentAttempt
from payments.clock import utcnow
from payments.invoicing.models import Customer, Invoice
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException, StaffAllocationSet
from payments.ledger.states import PaymentStatus
from payments.reads import Reads
from payments.stripe.facts import PaymentFacts, payment_method
from payments.stripe.gateway import ATTEMPT_METADATA_KEY, StripeGateway

CLOCK_SKEW_SECONDS = 5


@dataclass(frozen=True)
class Reading:
    """A PaymentIntent as read from Stripe, and when the read started."""

    read_at: datetime
    intent: dict[str, Any]
    facts: PaymentFacts | None


def read(gateway: StripeGateway, payment_intent_id: str, refunds_recorded: bool = True
         ) -> Reading:
    """Read the PaymentIntent now (call it outside any transaction: it is a network call)."""
    read_at = utcnow()
    intent, facts = gateway.payment_facts(payment_intent_id, refunds_recorded)
    return Reading(read_at, intent, facts)


def sync_payment(session: Session, reads: Reads, payment_intent_id: str,
                 event_created: int | None = None) -> Payment | None:
    """Reconcile the PaymentIntent; returns its Payment, or None while no money has moved.

    The PaymentIntent is read through ``reads`` (:mod:`payments.reads`): no lock is ever held
    during a network call, so the first time this raises ``ReadFirst`` and the caller reads it
    with no transaction open. No read is needed when ``event_created`` (when Stripe created the
    event that asked) shows that the payment was read after it: a new read could tell nothing
    newer.
    """
    payment = session.scalar(select(Payment).where(
        Payment.payment_intent_id == payment_intent_id).with_for_update())
    if payment is not None and _known_since(payment.synced_at, event_created):
        return payment
    refunds_recorded = payment is not None and payment.amount_refunded > 0
    reading = reads.get(payment_intent_id,
                        lambda gateway: read(gateway, payment_intent_id, refunds_recorded))
    if payment is not None and payment.synced_at and payment.synced_at >= reading.read_at:
        return payment  # a read that began after ours was applied meanwhile: it is fresher
    intent, facts, read_at = reading.intent, reading.facts, reading.read_at
    if payment is None:
        if facts is None or facts.status not in (PaymentStatus.PENDING, PaymentStatus.SUCCEEDED):
            return None  # a decline or an unfunded transfer: nothing to record
        payment = _new_payment(session, intent)
    facts = facts or PaymentFacts(payment.status)
    payment.synced_at = read_at
    payment.method = payment_method(intent) or payment.method
    charge = intent.get("latest_charge")
    payment.charge_id = charge.get("id") if isinstance(charge, dict) else charge
    allocations = _usable_allocations(session, payment)
    result = ledger.reconcile_payment(session, payment, allocations,
                                      absorb_unapplied(session, payment, allocations, facts))
    _record_reductions(payment, facts)
    _after_ledger(session, payment, result)
    return payment


def _known_since(synced_at: datetime | None, event_created: int | None) -> bool:
    # Stripe stamps events in whole seconds, and its clock and ours may differ a little.
    if event_created is None or synced_at is None:
        return False
    return synced_at.timestamp() > event_created + 1 + CLOCK_SKEW_SECONDS


def _new_payment(session: Session, intent: dict[str, Any]) -> Payment:
    reference = (intent.get("metadata") or {}).get(ATTEMPT_METADATA_KEY)
    # Lock the attempt before inserting the payment, as the checkout handlers do: the insert's
    # foreign-key check would otherwise wait on a handler that waits on our unique insert.
    attempt = session.scalar(select(PaymentAttempt).where(
        (PaymentAttempt.reference == reference) if reference
        else (PaymentAttempt.payment_intent_id == intent["id"])).with_for_update())
    payment = Payment(payment_intent_id=intent["id"], attempt_id=attempt.id if attempt else None,
                      customer_id=attempt.customer_id if attempt else _customer_id(session, intent),
                      currency=intent["currency"].upper(), amount=int(intent["amount"]),
                      status=PaymentStatus.PENDING, match_reason=None if attempt is None else
                      "attempt_reference" if reference else "attempt_payment_intent")
    session.add(payment)
    session.flush()
    if attempt is None:
        _raise(session, "unmatched_payment", f"unmatched:{intent['id']}", payment,
               details={"suggestions": suggest_matches(session, intent)})
    return payment


def _customer_id(session: Session, intent: dict[str, Any]) -> int | None:
    stripe_customer = intent.get("customer")
    if not stripe_customer:
        return None
    return session.scalar(select(Customer.id).where(Customer.stripe_customer_id == stripe_customer))


def chosen_allocations(session: Session, payment: Payment) -> list[tuple[int, int]]:
    """``[(invoice_id, amount), …]`` in order: the current staff allocation set if staff
    re-allocated the payment (it replaces the attempt's), else the attempt's allocations."""
    current = session.scalar(select(StaffAllocationSet).where(
        StaffAllocationSet.payment_id == payment.id, StaffAllocationSet.superseded_at.is_(None)))
    if current is not None:
        return [(a.invoice_id, a.amount) for a in current.allocations]
    if payment.attempt_id is None:
        return []
    attempt = session.get(PaymentAttempt, payment.attempt_id)
    return [(a.invoice_id, a.amount) for a in attempt.allocations]


def usable_allocations(session: Session, payment: Payment) -> list[tuple[int, int]]:
    """The chosen allocations the ledger applies (same currency as the payment)."""
    return _usable_allocations(session, payment, report=False)


def _usable_allocations(session: Session, payment: Payment,
                        report: bool = True) -> list[tuple[int, int]]:
    """The chosen allocations, minus those the ledger must not apply (wrong currency)."""
    usable = []
    for invoice_id, amount in chosen_allocations(session, payment):
        invoice = session.get(Invoice, invoice_id)
        if invoice.currency != payment.currency:
            if report:
                _raise(session, "currency_mismatch", f"currency:{payment.id}:{invoice.id}",
                       payment, invoice, details={"invoice_currency": invoice.currency})
            continue
        if invoice.voided_at is not None and report:
            _raise(session, "voided_invoice", f"voided:{payment.id}:{invoice.id}", payment,
                   invoice)
        usable.append((invoice_id, amount))
    return usable


def absorb_unapplied(session: Session, payment: Payment, allocations: list[tuple[int, int]],
                     facts: PaymentFacts) -> PaymentFacts:
    """``facts`` with refunds and withdrawals first taken out of the money no invoice got.

    A payment applied to no invoice (unmatched), or to less than its amount (a currency
    mismatch, a partial staff allocation, money kept as credit), holds unapplied money: a refund
    of it must not reopen the invoices that were paid. Reductions the ledger recorded keep their
    split (what they took from unapplied money back then stays taken, unless a dispute was won);
    the unapplied money absorbs the new ones in Stripe's order.
    """
    unapplied = payment.amount - sum(amount for _, amount in allocations)
    if unapplied <= 0 or not facts.reductions:
        return facts
    recorded = {cause: int(paid) for cause, paid in session.execute(
        select(LedgerEntry.cause, func.sum(LedgerEntry.paid_delta))
        .where(LedgerEntry.payment_id == payment.id,
               LedgerEntry.kind.in_(("refund", "dispute_withdrawal")))
        .group_by(LedgerEntry.cause))}
    won = {f"{dispute}:withdrawn" for dispute in facts.reinstated_disputes}
    kept = []
    for reduction in facts.reductions:
        if reduction.cause in facts.failed_reductions or reduction.cause in recorded:
            if reduction.cause in recorded and reduction.cause not in won:
                unapplied -= min(unapplied, reduction.amount + recorded[reduction.cause])
            kept.append(reduction)
            continue
        # A won dispute never recorded took nothing from any invoice: nothing to write.
        take = reduction.amount if reduction.cause in won else min(unapplied, reduction.amount)
        unapplied -= 0 if reduction.cause in won else take
        if reduction.amount > take:
            kept.append(replace(reduction, amount=reduction.amount - take))
    return replace(facts, reductions=tuple(kept))


def _record_reductions(payment: Payment, facts: PaymentFacts) -> None:
    refunded = sum(r.amount for r in facts.reductions if r.kind == "refund")
    withdrawn = sum(r.amount for r in facts.reductions if r.kind == "dispute_withdrawal")
    reinstated = sum(r.amount for r in facts.reductions if r.kind == "dispute_withdrawal"
                     and r.cause.removesuffix(":withdrawn") in facts.reinstated_disputes)
    payment.amount_refunded = min(refunded, payment.amount)
    payment.amount_disputed = min(withdrawn - reinstated, payment.amount)


def _after_ledger(session: Session, payment: Payment, result: ledger.Reconciled) -> None:
    for invoice_id in sorted(result.invoice_ids):
        invoice = session.get(Invoice, invoice_id)
        session.refresh(invoice, ["amount_paid", "amount_pending"])
        if invoice.amount_paid > invoice.total:
            _raise_overpayment(session, payment, invoice)
    if payment.confirmed_at is not None:
        # A refund staff sent from the exceptions queue was their decision, not news.
        staff_refunds = set(session.scalars(select(ReconciliationException.refund_id).where(
            ReconciliationException.payment_id == payment.id,
            ReconciliationException.refund_id.is_not(None))))
        for entry in result.entries:
            if entry.paid_delta < 0 and entry.cause not in staff_refunds:
                _raise(session, "reversal_after_confirmation", f"reversal:{entry.cause}:"
                       f"{entry.invoice_id}", payment, session.get(Invoice, entry.invoice_id),
                       amount=-entry.paid_delta, details={"kind": entry.kind})


def _raise_overpayment(session: Session, payment: Payment, invoice: Invoice) -> None:
    """Raise an overpayment, unless staff already have it: one is open (a redelivery, a
    refund in flight), or they dismissed it (they accepted the money as it is). Once they
    resolved it by moving the money (refund, credit, another invoice) and it comes back (the
    refund failed), it is news again and gets a new exception."""
    earlier = session.execute(select(ReconciliationException.resolved_at,
                                     ReconciliationException.resolution).where(
        ReconciliationException.kind == "overpayment",
        ReconciliationException.invoice_id == invoice.id,
        ReconciliationException.payment_id == payment.id)).all()
    if any(row.resolved_at is None or _dismissed(row.resolution) for row in earlier):
        return
    cause = f"overpaid:{invoice.id}:{payment.id}" + (f":{len(earlier) + 1}" if earlier else "")
    _raise(session, "overpayment", cause, payment, invoice,
           amount=invoice.amount_paid - invoice.total)


def _dismissed(resolution: str | None) -> bool:
    # Resolutions are JSON with an "action"; a plain-text one is an older note that closed it.
    try:
        return json.loads(resolution or "{}").get("action", "dismiss") == "dismiss"
    except (ValueError, AttributeError):
        return True


def _raise(session: Session, kind: str, cause: str, payment: Payment,
           invoice: Invoice | None = None, amount: int | None = None,
           details: dict[str, Any] | None = None) -> None:
    if session.scalar(select(ReconciliationException.id)
                      .where(ReconciliationException.cause == cause)) is not None:
        return
    session.add(ReconciliationException(
        kind=kind, cause=cause, payment_id=payment.id,
        invoice_id=invoice.id if invoice else None,
        amount=payment.amount if amount is None else amount, currency=payment.currency,
        details=json.dumps(details or {})))


def suggest_matches(session: Session, intent: dict[str, Any], limit: int = 5) -> list[dict]:
    """Open invoices a payment without metadata probably meant: same customer, same amount, or
    the invoice number in the description; best first."""
    amount, currency = int(intent["amount"]), intent["currency"].upper()
    text = " ".join(str(v) for v in (intent.get("description"),
                                    *(intent.get("metadata") or {}).values()) if v)
    words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9._/-]*", text))
    customer_id = _customer_id(session, intent)
    candidates = session.scalars(select(Invoice).where(
        Invoice.voided_at.is_(None), Invoice.amount_paid < Invoice.total,
        Invoice.currency == currency,
        or_(Invoice.total - Invoice.amount_paid == amount, Invoice.number.in_(words),
            Invoice.customer_id == customer_id if customer_id else false())).limit(200))
    scored = []
    for inv in candidates:
        score = ((3 if inv.total - inv.amount_paid == amount else 0)
                 + (2 if customer_id and inv.customer_id == customer_id else 0)
                 + (2 if inv.number in words else 0))
        scored.append((-score, inv.id, {"invoice_id": inv.id, "number": inv.number,
                                            "amount_due": inv.total - inv.amount_paid,
                                            "score": score}))
    return [item for *_k, item in sorted(scored)[:limit]]

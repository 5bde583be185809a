"""The exceptions queue's actions: one function per way staff resolve an exception.

Each locks the exception, then its payment, refuses an exception already resolved (or with a
refund on its way) and an action that does not fit its kind, does its work, and returns a
:class:`Resolved` with the before/after the caller writes to the audit log in the same
transaction. A double submit finds the exception resolved and writes nothing.

Money never moves behind the ledger's back:

* **apply_to_invoice** records a *staff allocation set* for the payment, which
  :func:`payments.reconcile.chosen_allocations` prefers to the attempt's from then on, and lets
  the convergent ledger reconcile the payment against it with the facts it has recorded (no
  Stripe call: a recorded refund or withdrawal keeps its split until Stripe says it failed).
  The ledger keys a payment's entry on (invoice, ``pi_…:paid``) and cannot change an amount
  once written, so what it cannot express is topped up by ``reallocation`` entries that carry
  the payment in ``staff_payment_id``. Later refunds and disputes are spread over the new set.
* **refund** goes through :meth:`StripeGateway.create_refund` outside any lock (intent first,
  then the call, then the result, as :mod:`payments.checkout` does); the refund's own events
  write the ledger. The overpaid or voided invoice is put last in the allocation set first,
  because refunds come off the last invoice first.
* **keep_as_credit** moves the money off the invoice (``credit_transfer``) into an append-only
  ``customer_credits`` row; **write_off** is an ``adjustment`` entry (cause ``writeoff:<id>``).

An action that deals with part of the money leaves the rest in a follow-up exception of the same
kind (cause ``remainder:<id>``), so nothing drops out of the queue unseen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import stripe
from sqlalchemy.orm import Session

from payments import ledger
from payments.models import Invoice, utcnow
from payments.money import format_money
from payments.payment_models import CustomerCredit, LedgerEntry, Payment, ReconciliationException
from payments.reconcile import usable_allocations
from payments.resolution_core import (
    FITS,
    AlreadyResolved,
    NotFound,
    Reallocated,
    RefundFailed,
    RefundInProgress,
    ResolutionError,
    Resolved,
    Source,
    WrongKind,
    finish,
    lock_row,
    money_source,
    moved,
    open_exception,
    parse_resolution,
    reallocate,
    state_of,
    whole_amount,
)
from payments.stripe_gateway import StripeGateway

__all__ = ["FITS", "AlreadyResolved", "NotFound", "RefundFailed", "RefundInProgress",
           "RefundRequest", "Resolved", "ResolutionError", "WrongKind", "abandon_refund",
           "apply_to_invoice", "apply_to_invoices", "dismiss", "keep_as_credit",
           "record_refund", "refund", "request_refund", "send_refund", "write_off"]


def _money(amount: int, payment: Payment) -> str:
    # Clerks read these messages: "$30.00", not "3000".
    return format_money(amount, payment.currency)


def _targets(session: Session, payment: Payment, targets: list[tuple[int, int]],
             source: Source) -> list[tuple[int, int]]:
    """Check the invoices money is applied to: open, same currency, owing that much."""
    seen: set[int] = set()
    for invoice_id, amount in targets:
        whole_amount(amount)
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            raise NotFound(f"no invoice #{invoice_id}")
        if invoice_id in seen or invoice_id == source.invoice_id:
            raise ResolutionError(f"invoice {invoice.number} is listed twice or is the one "
                                  "the money comes from")
        seen.add(invoice_id)
        if invoice.voided_at is not None or invoice.currency != payment.currency:
            raise ResolutionError(f"invoice {invoice.number} is void or not in "
                                  f"{payment.currency}")
        owed = invoice.total - invoice.amount_paid - invoice.amount_pending
        if amount > owed:
            raise ResolutionError(f"invoice {invoice.number} owes {_money(owed, payment)}, less "
                                  f"than {_money(amount, payment)}")
    return targets


def apply_to_invoices(session: Session, exception_id: int, targets: list[tuple[int, int]],
                      actor: str) -> Resolved:
    """Apply the exception's money to open invoices ``[(invoice_id, amount), …]``."""
    exc, payment = open_exception(session, exception_id, "apply_to_invoice")
    source = money_source(session, exc, payment)
    if not targets:
        raise ResolutionError("choose at least one invoice to apply the money to")
    _targets(session, payment, targets, source)
    total = sum(amount for _, amount in targets)
    if total > source.available:
        raise ResolutionError(f"only {_money(source.available, payment)} is left to apply, "
                              f"not {_money(total, payment)}")
    current = usable_allocations(session, payment)
    done = reallocate(session, exc, payment, moved(current, source.invoice_id, total, targets),
                      actor, "reallocation")
    if payment.customer_id is None:
        customers = {session.get(Invoice, i).customer_id for i, _ in targets}
        payment.customer_id = customers.pop() if len(customers) == 1 else None
    details = {"allocations": [{"invoice_id": i, "amount": a} for i, a in targets]}
    return finish(session, exc, "apply_to_invoice", actor, _noting(details, done),
                  done.entries, source.available - total)


def _noting(details: dict[str, Any], done: Reallocated) -> dict[str, Any]:
    if done.unconfirmed is not None:
        details["unconfirmed"] = done.unconfirmed  # the payment is back in the queue
    return details


def apply_to_invoice(session: Session, exception_id: int, invoice_id: int, amount: int,
                     actor: str) -> Resolved:
    """Apply ``amount`` of the exception's money to one open invoice."""
    return apply_to_invoices(session, exception_id, [(invoice_id, amount)], actor)


def keep_as_credit(session: Session, exception_id: int, actor: str) -> Resolved:
    """Keep the exception's money (all that is left) as a credit of the payment's customer."""
    exc, payment = open_exception(session, exception_id, "keep_as_credit")
    source = money_source(session, exc, payment)
    customer_id = payment.customer_id or (
        session.get(Invoice, exc.invoice_id).customer_id if exc.invoice_id else None)
    if customer_id is None:
        raise ResolutionError("no customer is known for this payment: apply it to an invoice "
                              "or refund it")
    done = Reallocated([])
    if source.invoice_id is not None:
        current = usable_allocations(session, payment)
        done = reallocate(session, exc, payment,
                          moved(current, source.invoice_id, source.available, []), actor,
                          "credit_transfer")
    credit = CustomerCredit(customer_id=customer_id, currency=payment.currency,
                            amount=source.available, cause=f"exception:{exc.id}",
                            payment_id=payment.id, created_by=actor)
    session.add(credit)
    session.flush()
    details = {"credit_id": credit.id, "customer_id": customer_id, "amount": source.available}
    return finish(session, exc, "keep_as_credit", actor, _noting(details, done), done.entries)


def write_off(session: Session, exception_id: int, amount: int, actor: str,
              max_amount: int) -> Resolved:
    """Write off a small difference on the exception's invoice (at most ``max_amount``): an
    overpayment's excess comes off what it shows paid, a reversal's shortfall is forgiven."""
    exc, _payment = open_exception(session, exception_id, "write_off")
    amount = whole_amount(amount)
    if amount > max_amount:
        raise ResolutionError(f"{format_money(amount, exc.currency)} is more than the "
                              f"{format_money(max_amount, exc.currency)} that may be written off")
    ledger.lock_invoices(session, {exc.invoice_id})
    invoice = session.get(Invoice, exc.invoice_id, populate_existing=True)
    if exc.kind == "overpayment":
        sign, room = -1, invoice.amount_paid - invoice.total
    else:
        sign, room = 1, invoice.total - invoice.amount_paid - invoice.amount_pending
    room = min(room, exc.amount or 0)
    if amount > room:
        raise ResolutionError(f"only {max(room, 0)} {invoice.currency} of difference is left "
                              f"on invoice {invoice.number}")
    entry = LedgerEntry(invoice_id=invoice.id, kind="adjustment", paid_delta=sign * amount,
                        cause=f"writeoff:{exc.id}", note=f"written off by {actor}")
    session.add(entry)
    ledger.refresh_balances(session, {invoice.id})
    return finish(session, exc, "write_off", actor, {"amount": amount}, [entry],
                  room - amount)


def dismiss(session: Session, exception_id: int, reason: str, actor: str) -> Resolved:
    """Close the exception without moving money; ``reason`` says why (required)."""
    reason = (reason or "").strip()
    if not reason:
        raise ResolutionError("say why the exception is dismissed")
    exc, _payment = open_exception(session, exception_id, "dismiss")
    return finish(session, exc, "dismiss", actor, {"reason": reason[:2000]})


@dataclass(frozen=True)
class RefundRequest:
    """A refund recorded as intended, to be sent to Stripe outside the transaction."""

    exception_id: int
    payment_intent_id: str
    amount: int
    idempotency_key: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


def request_refund(session: Session, exception_id: int, amount: int,
                   actor: str) -> RefundRequest:
    """Step 1: record the intent to refund ``amount`` (a retry of the same amount resumes)."""
    amount = whole_amount(amount)
    exc, payment = open_exception(session, exception_id, "refund", resuming=True)
    before = state_of(exc)
    if exc.resolution is not None:
        pending = parse_resolution(exc.resolution)
        if pending["amount"] != amount:
            raise RefundInProgress(f"a refund of {_money(pending['amount'], payment)} is in "
                                   "progress for "
                                   f"exception #{exc.id}: retry that amount to finish it")
        return RefundRequest(exc.id, payment.payment_intent_id, amount,
                             pending["idempotency_key"], before, before)
    source = money_source(session, exc, payment)
    if amount > source.available:
        raise ResolutionError(f"only {source.available} {payment.currency} can be refunded "
                              f"for exception #{exc.id}")
    current = usable_allocations(session, payment)
    if source.invoice_id is not None and current and current[-1][0] != source.invoice_id:
        # Refunds come off the last invoice first: make it the one the money is on.
        last = [(i, a) for i, a in current if i != source.invoice_id] + \
            [(i, a) for i, a in current if i == source.invoice_id]
        reallocate(session, exc, payment, last, actor, "reallocation")
    key = f"portal-exception-{exc.id}-refund-{amount}"
    exc.resolution = json.dumps({
        "action": "refund", "state": "requested", "amount": amount, "idempotency_key": key,
        "requested_by": actor, "requested_at": utcnow().isoformat(),
        "remainder": source.available - amount})
    session.flush()
    return RefundRequest(exc.id, payment.payment_intent_id, amount, key, before, state_of(exc))


def send_refund(gateway: StripeGateway, request: RefundRequest) -> dict[str, Any]:
    """Step 2, outside any transaction: ask Stripe (the same request always gets the same
    refund back, through its idempotency key)."""
    return gateway.create_refund(
        {"payment_intent": request.payment_intent_id, "amount": request.amount,
         "metadata": {"portal_exception": str(request.exception_id)}},
        idempotency_key=request.idempotency_key)


def record_refund(session: Session, request: RefundRequest, refund: dict[str, Any],
                  actor: str) -> Resolved:
    """Step 3: resolve the exception with the refund's id; its events write the ledger."""
    exc = lock_row(session, ReconciliationException, request.exception_id)
    if exc is None:
        raise NotFound(f"no exception #{request.exception_id}")
    if exc.resolved_at is not None:
        raise AlreadyResolved(f"exception #{exc.id} was already resolved (refund "
                              f"{exc.refund_id or 'none'})")
    pending = parse_resolution(exc.resolution)
    if pending.get("idempotency_key") != request.idempotency_key:
        raise ResolutionError(f"the refund requested for exception #{exc.id} changed meanwhile")
    exc.refund_id = refund["id"]
    return finish(session, exc, "refund", actor,
                   {"amount": request.amount, "refund_id": refund["id"],
                    "refund_status": refund.get("status"), "requested_by":
                    pending["requested_by"]}, remainder=pending.get("remainder", 0))


def abandon_refund(session: Session, request: RefundRequest) -> None:
    """Stripe refused the refund: clear the intent so another action can be taken."""
    exc = lock_row(session, ReconciliationException, request.exception_id)
    pending = parse_resolution(exc.resolution) if exc and exc.resolved_at is None else {}
    if pending.get("idempotency_key") == request.idempotency_key:
        exc.resolution = None


def refund(session_factory: Callable[[], Session], gateway: StripeGateway, exception_id: int,
           amount: int, actor: str) -> Resolved:
    """Refund ``amount`` of the exception's money through Stripe, in three steps with no
    database lock held during the call. Views that audit each step call them one by one."""
    with session_factory() as session, session.begin():
        request = request_refund(session, exception_id, amount, actor)
    try:
        created = send_refund(gateway, request)
    except stripe.InvalidRequestError as exc:
        with session_factory() as session, session.begin():
            abandon_refund(session, request)
        raise RefundFailed(f"Stripe refused the refund: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        raise RefundFailed("Stripe could not be reached; the refund may have been made: retry "
                           "the same amount to find out") from exc
    with session_factory() as session, session.begin():
        return record_refund(session, request, created, actor)

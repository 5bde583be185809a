"""The exceptions queue's actions: one function per way staff resolve an exception.

Each locks the exception, then its payment, refuses an exception already resolved (or with a
refund on its way) and an action that does not fit its kind, does its work, and returns a
:class:`Resolved` with the before/after the caller writes to the audit log in the same
transaction. A double submit finds the exception resolved and writes nothing.

Money never moves behind the ledger's back:

* **apply_to_invoice** records a *staff allocation set* for the payment, which
  :func:`payments.ledger.reconcile.chosen_allocations` prefers to the attempt's from then on, and
  lets the convergent ledger reconcile the payment against it with the facts it has recorded (no
  Stripe call: a recorded refund or withdrawal keeps its split until Stripe says it failed). The
  ledger keys a payment's entry on (invoice, ``pi_…:paid``) and cannot change an amount once
  written, so what it cannot express is topped up by ``reallocation`` entries that carry the payment
  in ``staff_payment_id``. Later refunds and disputes are spread over the new set.
* **refund** goes through :meth:`StripeGateway.create_refund` outside any lock (intent first,
  then the call, then the result, as :mod:`payments.checkout.start` does); the refund's own events
  write the ledger. The overpaid or voided invoice is put last in the allocation set first,
  because refunds come off the last invoice first.
* **keep_as_credit** moves the money off the invoice (``credit_transfer``) into an append-only
  ``customer_credits`` row; **write_off** is an ``adjustment`` entry (cause ``writeoff:<id>``).

An action that deals with part of the money leaves the rest in a follow-up exception of the same
kind (cause ``remainder:<id>``), so nothing drops out of the queue unseen.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import Payment
from payments.ledger.reconcile import usable_allocations
from payments.money import format_money
from payments.resolutions.core import (
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
    money_source,
    moved,
    open_exception,
    reallocate,
    whole_amount,
)
from payments.resolutions.models import CustomerCredit

__all__ = ["FITS", "AlreadyResolved", "NotFound", "RefundFailed", "RefundInProgress",
           "Resolved", "ResolutionError", "WrongKind", "apply_to_invoice", "apply_to_invoices",
           "dismiss", "keep_as_credit", "write_off"]


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
    entry = ledger.write_off(session, invoice.id, sign * amount, f"writeoff:{exc.id}",
                             f"written off by {actor}")
    return finish(session, exc, "write_off", actor, {"amount": amount}, [entry],
                  room - amount)


def dismiss(session: Session, exception_id: int, reason: str, actor: str) -> Resolved:
    """Close the exception without moving money; ``reason`` says why (required)."""
    reason = (reason or "").strip()
    if not reason:
        raise ResolutionError("say why the exception is dismissed")
    exc, _payment = open_exception(session, exception_id, "dismiss")
    return finish(session, exc, "dismiss", actor, {"reason": reason[:2000]})

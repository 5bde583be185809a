"""What the exceptions queue's actions (:mod:`payments.resolutions`) share: the errors, the
result, locking and closing an exception, and where a payment's money is.

A payment's money is on invoices (its ledger entries, plus the staff entries that carry it in
``staff_payment_id``), or refunded, or withdrawn by a dispute, or kept as a customer credit, or
*unapplied*: received and on no invoice yet. These functions read those amounts; the caller
holds the payment's row lock, so they cannot change underneath it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import (
    LedgerEntry,
    Payment,
    ReconciliationException,
    StaffAllocation,
    StaffAllocationSet,
)
from payments.ledger.reconcile import usable_allocations
from payments.money import format_money
from payments.resolutions.models import CustomerCredit
from payments.stripe.facts import PaymentFacts

MONEY_KINDS = frozenset({"overpayment", "voided_invoice", "unmatched_payment",
                         "currency_mismatch"})
FITS = {
    "apply_to_invoice": MONEY_KINDS,
    "refund": MONEY_KINDS,
    "keep_as_credit": MONEY_KINDS,
    "write_off": frozenset({"overpayment", "reversal_after_confirmation"}),
    "dismiss": frozenset(MONEY_KINDS | {"reversal_after_confirmation"}),
}


@dataclass(frozen=True)
class Source:
    """Where an exception's money sits: on an invoice, or unapplied (``invoice_id`` None)."""

    invoice_id: int | None
    available: int


def nets(session: Session, payment_id: int) -> dict[int, int]:
    """What the payment pays each invoice now, refunds and withdrawals taken off."""
    # int(): PostgreSQL sums BIGINT as NUMERIC.
    return {invoice_id: int(net) for invoice_id, net in session.execute(
        select(LedgerEntry.invoice_id, func.sum(LedgerEntry.paid_delta))
        .where(or_(LedgerEntry.payment_id == payment_id,
                   LedgerEntry.staff_payment_id == payment_id))
        .group_by(LedgerEntry.invoice_id))}


def credited(session: Session, payment_id: int) -> int:
    """How much of the payment was kept as customer credit."""
    return int(session.scalar(select(func.coalesce(func.sum(CustomerCredit.amount), 0))
                              .where(CustomerCredit.payment_id == payment_id)) or 0)


def refunds_in_flight(session: Session, payment: Payment) -> int:
    """Refunds staff sent that the payment's last read from Stripe may not include yet."""
    rows = session.execute(select(ReconciliationException.resolution,
                                  ReconciliationException.resolved_at)
                           .where(ReconciliationException.payment_id == payment.id,
                                  or_(ReconciliationException.refund_id.is_not(None),
                                      and_(ReconciliationException.resolution.is_not(None),
                                           ReconciliationException.resolved_at.is_(None)))))
    total = 0
    for resolution, resolved_at in rows:
        unseen = resolved_at is None or payment.synced_at is None \
            or resolved_at > payment.synced_at
        if unseen:
            total += parse_resolution(resolution).get("amount", 0)
    return total


def unapplied(session: Session, payment: Payment) -> int:
    """Money received and on no invoice, neither refunded, withdrawn nor kept as credit."""
    on_invoices = sum(nets(session, payment.id).values())
    return (payment.amount - payment.amount_refunded - refunds_in_flight(session, payment)
            - payment.amount_disputed - on_invoices - credited(session, payment.id))


def source_of(session: Session, exc: ReconciliationException, payment: Payment) -> Source:
    """The money an exception is about, and how much of it is still there.

    Overpayment: the payment's share of the invoice, at most what the invoice is overpaid by
    now. Voided invoice: the payment's share of it. Unmatched payment, currency mismatch: the
    payment's unapplied money.
    """
    if exc.kind in ("overpayment", "voided_invoice"):
        ledger.lock_invoices(session, {exc.invoice_id})
        on_invoice = nets(session, payment.id).get(exc.invoice_id, 0)
        if exc.kind == "overpayment":
            invoice = session.get(Invoice, exc.invoice_id, populate_existing=True)
            on_invoice = min(on_invoice, invoice.amount_paid - invoice.total)
        return Source(exc.invoice_id, max(on_invoice, 0))
    return Source(None, max(unapplied(session, payment), 0))


def moved(current: list[tuple[int, int]], source_invoice: int | None, amount: int,
          targets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The allocations after taking ``amount`` off ``source_invoice`` (None: from unapplied
    money) and adding ``targets``; order kept, new invoices last."""
    allocations = dict(current)
    if source_invoice is not None:
        allocations[source_invoice] = allocations.get(source_invoice, 0) - amount
        if allocations[source_invoice] <= 0:
            del allocations[source_invoice]
    for invoice_id, extra in targets:
        allocations[invoice_id] = allocations.get(invoice_id, 0) + extra
    return list(allocations.items())


class ResolutionError(ValueError):
    """An action that cannot be done; the message is for the clerk who asked."""


class NotFound(ResolutionError):
    """No such exception (or invoice)."""


class AlreadyResolved(ResolutionError):
    """The exception was resolved before (a double submit, or a colleague was quicker)."""


class WrongKind(ResolutionError):
    """The action does not resolve this kind of exception."""


class RefundInProgress(ResolutionError):
    """A refund was requested for the exception and its outcome is not recorded yet."""


class RefundFailed(ResolutionError):
    """Stripe refused the refund, or could not be reached."""


@dataclass(frozen=True)
class Resolved:
    """What an action did: the exception's before/after for the audit log, the ledger entries
    written, and the follow-up exception holding any money left to deal with."""

    exception_id: int
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    entry_ids: tuple[int, ...] = ()
    follow_up_id: int | None = None


def parse_resolution(text: str | None) -> dict[str, Any]:
    """A resolution as a dict: the JSON this module writes, or a note written as plain text
    (resolutions made before it, or by hand)."""
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {"note": text}
    return found if isinstance(found, dict) else {"note": text}


def state_of(exc: ReconciliationException) -> dict[str, Any]:
    """The exception's resolution fields, as the audit log records them."""
    return {"resolved_at": exc.resolved_at.isoformat() if exc.resolved_at else None,
            "resolved_by": exc.resolved_by,
            "resolution": parse_resolution(exc.resolution) or None}


def lock_row(session: Session, model, row_id: int):
    """The row, locked FOR UPDATE and read again after the lock (a colleague's change)."""
    return session.scalar(select(model).where(model.id == row_id).with_for_update()
                          .execution_options(populate_existing=True))


def open_exception(session: Session, exception_id: int, action: str,
                   resuming: bool = False) -> tuple[ReconciliationException, Payment | None]:
    """Lock the exception, then its payment; refuse what the action must not touch."""
    exc = lock_row(session, ReconciliationException, exception_id)
    if exc is None:
        raise NotFound(f"no exception #{exception_id}")
    if exc.resolved_at is not None:
        done = parse_resolution(exc.resolution).get("action", "resolved")
        raise AlreadyResolved(f"exception #{exc.id} was already resolved ({done}) by "
                              f"{exc.resolved_by} at {exc.resolved_at:%Y-%m-%d %H:%M} UTC")
    if exc.resolution is not None and not resuming:
        pending = parse_resolution(exc.resolution)
        raise RefundInProgress(f"a refund of {format_money(pending['amount'], exc.currency)} "
                               "requested by "
                               f"{pending['requested_by']} is in progress for exception "
                               f"#{exc.id}: retry that refund to finish it")
    if exc.kind not in FITS[action]:
        kind = exc.kind.replace("_", " ")
        article = "an" if kind[0] in "aeiou" else "a"
        raise WrongKind(f"{action.replace('_', ' ')} does not resolve {article} {kind} exception")
    payment = lock_row(session, Payment, exc.payment_id) if exc.payment_id else None
    return exc, payment


def finish(session: Session, exc: ReconciliationException, action: str, actor: str,
           details: dict[str, Any], entries: list[LedgerEntry] = (),
           remainder: int = 0) -> Resolved:
    """Mark the exception resolved; money left over goes to a follow-up exception."""
    before = state_of(exc)
    follow_up = follow_up_of(session, exc, remainder) if remainder > 0 else None
    resolution = {"action": action, **details}
    if follow_up is not None:
        resolution["follow_up"] = follow_up.id
    exc.resolved_at, exc.resolved_by = utcnow(), actor
    exc.resolution = json.dumps(resolution)
    session.flush()
    return Resolved(exc.id, action, before, state_of(exc), tuple(e.id for e in entries),
                    follow_up.id if follow_up else None)


def follow_up_of(session: Session, exc: ReconciliationException,
                 remainder: int) -> ReconciliationException:
    """The exception for the money an action left, of the same kind, raised once."""
    follow = ReconciliationException(
        kind=exc.kind, cause=f"remainder:{exc.id}", payment_id=exc.payment_id,
        invoice_id=exc.invoice_id, amount=remainder, currency=exc.currency,
        details=json.dumps({"follows": exc.id}))
    session.add(follow)
    session.flush()
    return follow


def whole_amount(amount: Any, what: str = "amount") -> int:
    """``amount`` if it is a positive integer of minor units, else a clear refusal."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ResolutionError(f"the {what} must be a whole number of minor units above zero")
    return amount


def money_source(session: Session, exc: ReconciliationException,
                 payment: Payment | None) -> Source:
    """Where the exception's money is, and how much of it is left; refuses what can't move."""
    if payment is None:
        raise ResolutionError(f"exception #{exc.id} has no payment to move money from")
    if payment.status != "succeeded":
        raise ResolutionError(f"the payment is {payment.status}: only money that has arrived "
                              "can be applied, refunded or kept (wait until it clears)")
    source = source_of(session, exc, payment)
    if source.available <= 0:
        raise ResolutionError(f"nothing is left to move for exception #{exc.id} (refunded, "
                              "disputed or already moved): dismiss it instead")
    return source


@dataclass(frozen=True)
class Reallocated:
    """The ledger entries a re-allocation wrote, and the confirmation it undid (if any)."""

    entries: list[LedgerEntry]
    unconfirmed: dict[str, Any] | None = None


def reallocate(session: Session, exc: ReconciliationException, payment: Payment,
               allocations: list[tuple[int, int]], actor: str, kind: str) -> Reallocated:
    """Record ``allocations`` as the payment's current staff set and converge the ledger."""
    previous = usable_allocations(session, payment)
    involved = {i for i, _ in allocations + previous} | set(nets(session, payment.id))
    ledger.lock_invoices(session, involved)
    session.execute(update(StaffAllocationSet).where(
        StaffAllocationSet.payment_id == payment.id, StaffAllocationSet.superseded_at.is_(None))
        .values(superseded_at=utcnow()))
    new_set = StaffAllocationSet(payment_id=payment.id, exception_id=exc.id, created_by=actor,
                                 allocations=[StaffAllocation(invoice_id=i, amount=a, position=n)
                                              for n, (i, a) in enumerate(allocations)])
    session.add(new_set)
    session.flush()
    payment.match_reason = "staff_allocation"
    usable = usable_allocations(session, payment)
    # The facts the ledger recorded: recorded refunds and withdrawals keep their split.
    result = ledger.reconcile_payment(session, payment, usable, PaymentFacts(payment.status))
    extra = ledger.top_up(session, payment.id, usable, kind, f"allocation-set:{new_set.id}")
    return Reallocated(result.entries + extra, _unconfirm(payment, previous, usable))


def _unconfirm(payment: Payment, previous: list[tuple[int, int]],
               now: list[tuple[int, int]]) -> dict[str, Any] | None:
    # What the ERP was told about a confirmed payment changed: it goes back to the queue.
    if payment.confirmed_at is None or sorted(previous) == sorted(now):
        return None
    undone = {"payment_id": payment.id, "confirmed_at": payment.confirmed_at.isoformat(),
              "confirmed_by": payment.confirmed_by}
    payment.confirmed_at = payment.confirmed_by = None
    return undone

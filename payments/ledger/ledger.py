"""The ledger: the one writer of invoice balances.

Every change to what an invoice owes is an append-only :class:`LedgerEntry` tied to its cause.
For payments the ledger converges: given a payment's allocations and the *current* facts about
its PaymentIntent (status, refunds, disputes), :func:`reconcile_payment` works out which entries
should exist, appends the missing ones, and appends a reversal for any recorded entry that no
longer holds. Causes are deterministic (``pi_…:paid``, ``re_…``, ``du_…:withdrawn``) and unique per
invoice, so duplicates, retries and any order of events end in the same ledger.

``Invoice.amount_paid`` / ``amount_pending`` are then recomputed as sums of entries.
:func:`verify` recomputes every balance and reports any difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from payments.invoicing.models import Invoice
from payments.ledger.models import LedgerEntry, Payment
from payments.ledger.states import LedgerKind, advance
from payments.stripe.facts import PaymentFacts

# What undoes an entry of each kind when the fact behind it no longer holds.
REVERSAL_KIND = {
    LedgerKind.PENDING: LedgerKind.PENDING_RELEASED,
    LedgerKind.PAYMENT: LedgerKind.PAYMENT_REVERSED,
    LedgerKind.REFUND: LedgerKind.REFUND_REVERSED,
    LedgerKind.DISPUTE_WITHDRAWAL: LedgerKind.DISPUTE_REINSTATEMENT,
    LedgerKind.DISPUTE_REINSTATEMENT: LedgerKind.DISPUTE_WITHDRAWAL,
}
REVERSAL_SUFFIX = ":reversed"
# A payment's principal on an invoice: what the convergent ledger wrote (``payment_id``) plus
# what staff moved (``staff_payment_id``: re-allocations and credit transfers).
PRINCIPAL_KINDS = (LedgerKind.PAYMENT, LedgerKind.PAYMENT_REVERSED)
STAFF_KINDS = (LedgerKind.REALLOCATION, LedgerKind.CREDIT_TRANSFER)


@dataclass
class _Want:
    kind: str
    paid: int = 0
    pending: int = 0


@dataclass
class Reconciled:
    """What :func:`reconcile_payment` appended, and the invoices whose balances it refreshed."""

    entries: list[LedgerEntry] = field(default_factory=list)
    invoice_ids: set[int] = field(default_factory=set)


def reconcile_payment(
    session: Session, payment: Payment, allocations: list[tuple[int, int]], facts: PaymentFacts
) -> Reconciled:
    """Bring the ledger of ``payment`` in line with ``facts``; returns what was appended.

    ``allocations`` is ``[(invoice_id, amount), …]`` in the order the customer chose them. The
    caller holds the payment's row lock (so its entries cannot change underneath); every
    invoice this may write to is row-locked first, so concurrent payments on one invoice queue
    instead of both summing the ledger without the other's entry (a lost update).
    """
    existing = {(e.invoice_id, e.cause): e for e in session.scalars(
        select(LedgerEntry).where(LedgerEntry.payment_id == payment.id))}
    # Reversals land on invoices the payment may no longer be allocated to: lock those too.
    lock_invoices(session, {invoice_id for invoice_id, _ in allocations}
                  | {invoice_id for invoice_id, _ in existing})
    payment.status = advance(payment.status, facts.status)
    wanted = _wanted(payment.payment_intent_id, allocations, payment.status, facts, existing)
    result = Reconciled()
    for (invoice_id, cause), want in wanted.items():
        if (invoice_id, cause) not in existing:
            result.entries.append(_entry(payment, invoice_id, cause, want))
    for (invoice_id, cause), entry in existing.items():
        if (cause.endswith(REVERSAL_SUFFIX) or (invoice_id, cause) in wanted
                or (invoice_id, cause + REVERSAL_SUFFIX) in existing):
            continue
        undo = _Want(REVERSAL_KIND[entry.kind], -entry.paid_delta, -entry.pending_delta)
        result.entries.append(_entry(payment, invoice_id, cause + REVERSAL_SUFFIX, undo))
    session.add_all(result.entries)
    result.invoice_ids = {e.invoice_id for e in result.entries}
    refresh_balances(session, result.invoice_ids)
    return result


def _wanted(pi: str, allocations: list[tuple[int, int]], status: str, facts: PaymentFacts,
            existing: dict[tuple[int, str], LedgerEntry]) -> dict[tuple[int, str], _Want]:
    if status == "pending":
        return {(inv, f"{pi}:pending"): _Want("pending", pending=amt) for inv, amt in allocations}
    if status != "succeeded":
        return {}
    wanted = {(inv, f"{pi}:paid"): _Want("payment", paid=amt) for inv, amt in allocations}
    wanted.update(_distribute(allocations, facts, existing))
    # Like withdrawals, a recorded reinstatement is a fact: a stale snapshot cannot undo it.
    reinstated = set(facts.reinstated_disputes) | {
        cause.removesuffix(":reinstated") for (_inv, cause), e in existing.items()
        if e.kind == "dispute_reinstatement" and cause.endswith(":reinstated")}
    for dispute in sorted(reinstated):
        for (inv, cause), want in list(wanted.items()):
            if cause == f"{dispute}:withdrawn":
                wanted[(inv, f"{dispute}:reinstated")] = _Want("dispute_reinstatement",
                                                               paid=-want.paid)
    return wanted


def _distribute(allocations: list[tuple[int, int]], facts: PaymentFacts,
                existing: dict[tuple[int, str], LedgerEntry]) -> dict[tuple[int, str], _Want]:
    """Spread refunds and withdrawals over the invoices, last allocated first.

    A reduction already in the ledger stays, with the split it was recorded with, until Stripe
    says it failed: a stale snapshot that does not mention it yet must not undo it. New ones
    fill what capacity is left, so a split never changes after the fact.
    """
    capacity = dict(allocations)
    out: dict[tuple[int, str], _Want] = {}
    recorded = set()
    for (inv, cause), entry in existing.items():
        undone = (inv, cause + REVERSAL_SUFFIX) in existing or cause in facts.failed_reductions
        if entry.kind in ("refund", "dispute_withdrawal") and not undone:
            out[(inv, cause)] = _Want(entry.kind, paid=entry.paid_delta)
            capacity[inv] = capacity.get(inv, 0) + entry.paid_delta
            recorded.add(cause)
    for reduction in facts.reductions:
        if reduction.cause in recorded or reduction.cause in facts.failed_reductions:
            continue
        left = reduction.amount
        for inv, _amt in reversed(allocations):
            take = min(left, capacity[inv])
            if take > 0:
                out[(inv, reduction.cause)] = _Want(reduction.kind, paid=-take)
                capacity[inv] -= take
                left -= take
    return out


def _entry(payment: Payment, invoice_id: int, cause: str, want: _Want) -> LedgerEntry:
    return LedgerEntry(invoice_id=invoice_id, payment_id=payment.id, kind=want.kind,
                       paid_delta=want.paid, pending_delta=want.pending, cause=cause)


def write_off(session: Session, invoice_id: int, delta: int, cause: str,
              note: str) -> LedgerEntry:
    """A staff adjustment of ``delta`` on one invoice (nobody's money); balances refreshed."""
    entry = LedgerEntry(invoice_id=invoice_id, kind=LedgerKind.ADJUSTMENT, paid_delta=delta,
                        cause=cause, note=note)
    session.add(entry)
    refresh_balances(session, {invoice_id})
    return entry


def credit(session: Session, invoice_id: int, amount: int, cause: str,
           note: str) -> LedgerEntry:
    """A credit note's entry: ``amount`` less owed on one invoice (the caller holds the
    invoice's lock and has checked the amount is open); balances refreshed."""
    if amount <= 0:
        raise ValueError("a credit lowers what is owed by a positive amount")
    entry = LedgerEntry(invoice_id=invoice_id, kind=LedgerKind.CREDIT_NOTE, paid_delta=amount,
                        cause=cause, note=note)
    session.add(entry)
    refresh_balances(session, {invoice_id})
    return entry


def top_up(session: Session, payment_id: int, allocations: list[tuple[int, int]], kind: str,
           cause: str) -> list[LedgerEntry]:
    """Staff entries that bring what the payment pays each invoice (before refunds) to
    ``allocations``, where the convergent ledger could not: it never changes the amount of an
    entry it wrote, nor writes an entry again once it reversed it. Balances refreshed."""
    session.flush()
    principal = {invoice_id: int(paid) for invoice_id, paid in session.execute(
        select(LedgerEntry.invoice_id, func.sum(LedgerEntry.paid_delta))
        .where(or_(and_(LedgerEntry.payment_id == payment_id,
                        LedgerEntry.kind.in_(PRINCIPAL_KINDS)),
                   and_(LedgerEntry.staff_payment_id == payment_id,
                        LedgerEntry.kind.in_(STAFF_KINDS))))
        .group_by(LedgerEntry.invoice_id))}
    wanted = dict(allocations)
    entries = [LedgerEntry(invoice_id=invoice_id, staff_payment_id=payment_id, kind=kind,
                           paid_delta=wanted.get(invoice_id, 0) - principal.get(invoice_id, 0),
                           cause=cause)
               for invoice_id in sorted(set(principal) | set(wanted))
               if wanted.get(invoice_id, 0) != principal.get(invoice_id, 0)]
    session.add_all(entries)
    refresh_balances(session, {e.invoice_id for e in entries})
    return entries


def lock_invoices(session: Session, invoice_ids: set[int]) -> None:
    """Row-lock invoices in id order (a fixed order, so two payments cannot deadlock)."""
    if invoice_ids:
        session.execute(select(Invoice.id).where(Invoice.id.in_(sorted(invoice_ids)))
                        .order_by(Invoice.id).with_for_update())


def refresh_balances(session: Session, invoice_ids: set[int]) -> None:
    """Set each invoice's paid and pending amounts to the sums of its entries."""
    if not invoice_ids:
        return
    session.flush()
    for invoice_id, paid, pending in _sums(session, invoice_ids):
        # int(): PostgreSQL's SUM of BIGINT is NUMERIC, and "fetch" puts it on the object.
        session.execute(
            update(Invoice).where(Invoice.id == invoice_id)
            .values(amount_paid=int(paid), amount_pending=int(pending),
                    revision=Invoice.revision + 1)
            .execution_options(synchronize_session="fetch")
        )


def _sums(session: Session, invoice_ids: set[int] | None):
    query = select(Invoice.id, func.coalesce(func.sum(LedgerEntry.paid_delta), 0),
                   func.coalesce(func.sum(LedgerEntry.pending_delta), 0)
                   ).outerjoin(LedgerEntry, LedgerEntry.invoice_id == Invoice.id
                               ).group_by(Invoice.id).order_by(Invoice.id)
    if invoice_ids is not None:
        query = query.where(Invoice.id.in_(invoice_ids))
    return session.execute(query).all()


@dataclass(frozen=True)
class Difference:
    """An invoice whose stored balances disagree with its ledger."""

    invoice_id: int
    stored: tuple[int, int]
    ledger: tuple[int, int]


def verify(session: Session) -> list[Difference]:
    """Recompute every invoice's (paid, pending) from the ledger; list any that disagree."""
    stored = {i: (paid, pending) for i, paid, pending in session.execute(
        select(Invoice.id, Invoice.amount_paid, Invoice.amount_pending))}
    return [Difference(i, stored[i], (p, q)) for i, p, q in _sums(session, None)
            if stored.get(i) != (p, q)]

"""Refunding an exception's money through Stripe, in three audited steps.

The intent is recorded first (so a retry reuses its idempotency key), the call to Stripe is made
with no transaction open, then the result is recorded; a refused refund is abandoned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.ledger.models import ReconciliationException
from payments.ledger.reconcile import usable_allocations
from payments.resolutions.actions import _money
from payments.resolutions.core import (
    AlreadyResolved,
    NotFound,
    RefundFailed,
    RefundInProgress,
    ResolutionError,
    Resolved,
    finish,
    lock_row,
    money_source,
    open_exception,
    parse_resolution,
    reallocate,
    state_of,
    whole_amount,
)
from payments.stripe.errors import StripeRefused, StripeUnavailable
from payments.stripe.gateway import StripeGateway


@dataclass(frozen=True)
class RefundRequest:
    """A refund recorded as intended, to be sent to Stripe outside the transaction."""

    exception_id: int
    payment_intent_id: str
    amount: int
    idempotency_key: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


def request_refund(session: Session, exception_id: int, amount: int | None,
                   actor: str) -> RefundRequest:
    """Step 1: record the intent to refund ``amount`` (a retry of the same amount resumes);
    ``None`` is the refund in progress, else all the money left."""
    amount = None if amount is None else whole_amount(amount)
    exc, payment = open_exception(session, exception_id, "refund", resuming=True)
    before = state_of(exc)
    if exc.resolution is not None:
        pending = parse_resolution(exc.resolution)
        amount = pending["amount"] if amount is None else amount
        if pending["amount"] != amount:
            raise RefundInProgress(f"a refund of {_money(pending['amount'], payment)} is in "
                                   "progress for "
                                   f"exception #{exc.id}: retry that amount to finish it")
        return RefundRequest(exc.id, payment.payment_intent_id, amount,
                             pending["idempotency_key"], before, before)
    source = money_source(session, exc, payment)
    amount = source.available if amount is None else amount
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


class RefundAudit(Protocol):
    """Records each step of a refund in that step's own transaction (the console's audit)."""

    def requested(self, session: Session, request: RefundRequest) -> None:
        """The intent was recorded (not called when a retry resumed it unchanged)."""

    def refused(self, session: Session, request: RefundRequest, message: str) -> None:
        """Stripe refused; the intent was cleared."""

    def resolved(self, session: Session, done: Resolved) -> None:
        """The refund was recorded and the exception resolved."""


class StripeUnanswered(RefundFailed):
    """Stripe could not be reached: the refund may have been made; retry the same amount."""


def refund(session_factory: Callable[[], Session], gateway: StripeGateway, exception_id: int,
           amount: int | None, actor: str, audit: RefundAudit | None = None) -> Resolved:
    """Refund ``amount`` of the exception's money through Stripe (``None``: the refund in
    progress, else all that is left): intent, call, result, with no transaction open during
    the call; a retry of the same amount resumes and never refunds twice."""
    with session_factory() as session, session.begin():
        request = request_refund(session, exception_id, amount, actor)
        if audit is not None and request.after != request.before:
            audit.requested(session, request)
    try:
        created = send_refund(gateway, request)
    except StripeRefused as exc:
        message = f"Stripe refused the refund: {exc}"
        with session_factory() as session, session.begin():
            abandon_refund(session, request)
            if audit is not None:
                audit.refused(session, request, message)
        raise RefundFailed(message) from exc
    except StripeUnavailable as exc:
        raise StripeUnanswered("Stripe could not be reached; the refund may have been made: "
                               "retry the same amount to find out") from exc
    with session_factory() as session, session.begin():
        done = record_refund(session, request, created, actor)
        if audit is not None:
            audit.resolved(session, done)
    return done

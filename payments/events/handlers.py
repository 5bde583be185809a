"""The event dispatch table: one small function per Stripe event type.

Nearly every handler comes down to "reconcile the PaymentIntent this object belongs to", decided
from Stripe's current state (see :mod:`payments.ledger.reconcile`). Types not in the table are
stored and acknowledged, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from payments.checkout.models import AttemptStatus, PaymentAttempt
from payments.ledger.reconcile import sync_payment
from payments.reads import Reads
from payments.stripe.gateway import ATTEMPT_METADATA_KEY, StripeGateway

StripeObject = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What handlers need besides the database session, for one unit of work (one event, one
    return from Checkout): the gateway, the reads made from it so far, and when Stripe created
    the event being handled (None when no event asked, e.g. the return page or the sweep)."""

    gateway: StripeGateway
    event_created: int | None = None
    reads: Reads = field(default=None)  # type: ignore[assignment]  (set from the gateway)

    def __post_init__(self) -> None:
        if self.reads is None:
            object.__setattr__(self, "reads", Reads(self.gateway))


def _id(value: Any) -> str | None:
    # Stripe fields hold either an id or, when expanded, the object itself.
    return value.get("id") if isinstance(value, dict) else value


def _sync(ctx: Context, session: Session, payment_intent: Any) -> None:
    if pi := _id(payment_intent):
        sync_payment(session, ctx.reads, pi, ctx.event_created)


def _attempt(session: Session, checkout_session: StripeObject) -> PaymentAttempt | None:
    matches = [PaymentAttempt.checkout_session_id == checkout_session["id"]]
    if reference := (checkout_session.get("metadata") or {}).get(ATTEMPT_METADATA_KEY):
        matches.append(PaymentAttempt.reference == reference)
    return session.scalar(select(PaymentAttempt).where(or_(*matches)).with_for_update())


def session_completed(ctx: Context, session: Session, obj: StripeObject) -> None:
    """The customer finished Checkout: the attempt is complete; money may still be pending."""
    attempt = _attempt(session, obj)
    if attempt is not None:
        attempt.status = AttemptStatus.COMPLETED
        attempt.payment_intent_id = _id(obj.get("payment_intent")) or attempt.payment_intent_id
    _sync(ctx, session, obj.get("payment_intent"))


def session_async_result(ctx: Context, session: Session, obj: StripeObject) -> None:
    """A delayed method (ACH, bank transfer) succeeded or failed after Checkout completed."""
    session_completed(ctx, session, obj)


def session_expired(ctx: Context, session: Session, obj: StripeObject) -> None:
    """The session can no longer be paid; an attempt still open becomes expired."""
    attempt = _attempt(session, obj)
    if attempt is not None and attempt.status == AttemptStatus.OPEN:
        attempt.status = AttemptStatus.EXPIRED


def intent_changed(ctx: Context, session: Session, obj: StripeObject) -> None:
    """processing, succeeded, payment_failed, canceled: reconcile the PaymentIntent."""
    _sync(ctx, session, obj["id"])


def belongs_to_intent(ctx: Context, session: Session, obj: StripeObject) -> None:
    """Charges, refunds and disputes: reconcile the PaymentIntent they belong to."""
    _sync(ctx, session, obj.get("payment_intent"))


def cash_balance_changed(ctx: Context, session: Session, obj: StripeObject) -> None:
    """Bank-transfer funds applied to a payment: reconcile that payment."""
    applied = obj.get("applied_to_payment") or {}
    _sync(ctx, session, applied.get("payment_intent"))


HANDLERS: dict[str, Callable[[Context, Session, StripeObject], None]] = {
    "checkout.session.completed": session_completed,
    "checkout.session.async_payment_succeeded": session_async_result,
    "checkout.session.async_payment_failed": session_async_result,
    "checkout.session.expired": session_expired,
    "payment_intent.processing": intent_changed,
    "payment_intent.succeeded": intent_changed,
    "payment_intent.payment_failed": intent_changed,
    "payment_intent.canceled": intent_changed,
    "charge.succeeded": belongs_to_intent,
    "charge.failed": belongs_to_intent,
    "charge.refunded": belongs_to_intent,
    "charge.refund.updated": belongs_to_intent,
    "refund.created": belongs_to_intent,
    "refund.updated": belongs_to_intent,
    "refund.failed": belongs_to_intent,
    "charge.dispute.created": belongs_to_intent,
    "charge.dispute.funds_withdrawn": belongs_to_intent,
    "charge.dispute.funds_reinstated": belongs_to_intent,
    "charge.dispute.closed": belongs_to_intent,
    "customer_cash_balance_transaction.created": cash_balance_changed,
}


def handle(ctx: Context, session: Session, event: dict[str, Any]) -> None:
    """Dispatch ``event`` to its handler; unknown types are only stored.

    A handler that needs Stripe's current state asks ``ctx.reads``, which raises
    :class:`payments.reads.ReadFirst`: the event store rolls back, reads outside any
    transaction, and runs the handler again with it.
    """
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return
    ctx = replace(ctx, event_created=int(event.get("created") or 0) or None)
    handler(ctx, session, event["data"]["object"])

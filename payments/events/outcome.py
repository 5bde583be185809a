"""What really happened to a payment attempt, in terms a customer understands.

Read-only: money moves only through the event pipeline. :func:`refresh` asks that pipeline to
fetch the Checkout Session now, so a customer back from Checkout does not wait for the webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.checkout.models import PaymentAttempt
from payments.db import Database
from payments.events.handlers import Context, session_completed, session_expired
from payments.ledger.models import Payment
from payments.reads import run_with_reads
from payments.stripe.gateway import StripeGateway


@dataclass(frozen=True)
class Result:
    """``kind`` is paid, processing, awaiting_transfer, failed, canceled or open."""

    kind: str
    amount: int
    currency: str
    method: str | None = None
    instructions: dict[str, Any] | None = None


def refresh(db: Database, gateway: StripeGateway, reference: str) -> None:
    """Run the attempt's Checkout Session through the same handlers a webhook would."""
    with db.reader() as session:
        session_id = session.scalar(select(PaymentAttempt.checkout_session_id)
                                    .where(PaymentAttempt.reference == reference))
    if not session_id:
        return
    checkout = gateway.checkout_session(session_id)
    handler = {"complete": session_completed, "expired": session_expired}.get(
        checkout.get("status"))
    if handler is None:
        return
    ctx = Context(gateway)
    run_with_reads(db, lambda session: handler(ctx, session, checkout))


def result(session: Session, gateway: StripeGateway, attempt: PaymentAttempt) -> Result:
    """The attempt's outcome as recorded (plus transfer instructions, read from Stripe)."""
    payment = session.scalar(select(Payment).where(Payment.attempt_id == attempt.id))
    base = {"amount": attempt.amount, "currency": attempt.currency}
    if payment is not None:
        kind = {"succeeded": "paid", "pending": "processing"}.get(payment.status, "failed")
        return Result(kind, method=payment.method, **base)
    if attempt.status == "expired":
        return Result("canceled", **base)
    if attempt.status == "completed" and attempt.payment_intent_id:
        intent, _facts = gateway.payment_facts(attempt.payment_intent_id)
        action = intent.get("next_action") or {}
        if action.get("type") == "display_bank_transfer_instructions":
            return Result("awaiting_transfer", method="customer_balance",
                          instructions=action["display_bank_transfer_instructions"], **base)
        if intent.get("last_payment_error"):
            return Result("failed", **base)
    return Result("open", **base)

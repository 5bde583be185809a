"""Read Stripe objects into ledger facts (pure functions, no network)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reduction:
    """Money taken back from a succeeded payment: a refund or a dispute's withdrawal."""

    cause: str  # "re_…" or "du_…:withdrawn"
    kind: str  # "refund" or "dispute_withdrawal"
    amount: int


@dataclass(frozen=True)
class PaymentFacts:
    """The current truth about a PaymentIntent, as read from Stripe."""

    status: str  # pending | succeeded | failed | canceled
    reductions: tuple[Reduction, ...] = ()
    reinstated_disputes: tuple[str, ...] = ()  # dispute ids whose funds came back (won)
    failed_reductions: tuple[str, ...] = ()  # refund ids that failed or were canceled


# Inquiries ("warning_*") never take money; every other dispute withdraws it when opened.
_NO_WITHDRAWAL = {"warning_needs_response", "warning_under_review", "warning_closed"}


def payment_status(intent: dict[str, Any]) -> str | None:
    """pending, succeeded, failed or canceled; None while no money has moved.

    ``processing`` (ACH clearing) is pending, never paid. A PaymentIntent back in
    ``requires_payment_method`` with an error is a failed attempt (a returned debit, a decline).
    ``requires_action`` (a bank transfer waiting for funds) has moved nothing yet.
    """
    status = intent.get("status")
    if status == "succeeded":
        return "succeeded"
    if status == "processing":
        return "pending"
    if status == "canceled":
        return "canceled"
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return "failed"
    return None


def payment_facts(intent: dict[str, Any], refunds: list[dict[str, Any]],
                  disputes: list[dict[str, Any]]) -> PaymentFacts | None:
    """The facts the ledger needs about one PaymentIntent, its refunds and its disputes."""
    status = payment_status(intent)
    if status is None:
        return None
    reductions: list[Reduction] = []
    failed: list[str] = []
    for refund in sorted(refunds, key=lambda r: (r.get("created") or 0, r["id"])):
        if refund.get("status") in ("failed", "canceled"):
            failed.append(refund["id"])
        else:  # pending refunds already count: the money is on its way back
            reductions.append(Reduction(refund["id"], "refund", int(refund["amount"])))
    reinstated = []
    for dispute in sorted(disputes, key=lambda d: (d.get("created") or 0, d["id"])):
        if dispute.get("status") in _NO_WITHDRAWAL:
            continue
        reductions.append(Reduction(f"{dispute['id']}:withdrawn", "dispute_withdrawal",
                                    int(dispute["amount"])))
        if dispute.get("status") == "won":
            reinstated.append(dispute["id"])
    return PaymentFacts(status, tuple(reductions), tuple(reinstated), tuple(failed))


def payment_method(intent: dict[str, Any]) -> str | None:
    """card, us_bank_account or customer_balance: how the customer paid."""
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        details = charge.get("payment_method_details") or {}
        if details.get("type"):
            return details["type"]
    types = intent.get("payment_method_types") or []
    return types[0] if len(types) == 1 else None


def _id(value: Any) -> str | None:
    # Stripe fields hold either an id or, when expanded, the object itself.
    return value.get("id") if isinstance(value, dict) else value


def intent_of(obj: dict[str, Any]) -> str | None:
    """The PaymentIntent a Stripe object belongs to (sessions, intents, charges, refunds,
    disputes, cash balance transactions)."""
    if obj.get("object") == "payment_intent":
        return obj.get("id")
    if obj.get("object") == "customer_cash_balance_transaction":
        return (obj.get("applied_to_payment") or {}).get("payment_intent")
    return _id(obj.get("payment_intent"))


def payment_ref(event: dict[str, Any]) -> str | None:
    """What an event is filed under (``StripeEvent.payment_ref``): the PaymentIntent of its
    object or, for a Checkout Session that never got one (expired unpaid), the session id."""
    obj = (event.get("data") or {}).get("object")
    if not isinstance(obj, dict):
        return None
    ref = intent_of(obj)
    if ref is None and obj.get("object") == "checkout.session":
        ref = obj.get("id")
    return ref if isinstance(ref, str) else None

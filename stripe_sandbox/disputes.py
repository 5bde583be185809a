"""Disputes: opened on a succeeded charge (through the control API or the dispute test card),
then won or lost, with the ``charge.dispute.*`` events Stripe sends at each step."""

from __future__ import annotations

from typing import Any

from stripe_sandbox import errors
from stripe_sandbox.events import apply, emit
from stripe_sandbox.objects import make, new_id
from stripe_sandbox.store import Store

OPEN = ("warning_needs_response", "needs_response", "under_review", "warning_under_review")
REASONS = ("bank_cannot_process", "check_returned", "credit_not_processed",
           "customer_initiated", "debit_not_authorized", "duplicate", "fraudulent", "general",
           "incorrect_account_details", "insufficient_funds", "product_not_received",
           "product_unacceptable", "subscription_canceled", "unrecognized")


def open_dispute(store: Store, charge: dict[str, Any], reason: str = "fraudulent",
                 amount: int | None = None) -> dict[str, Any]:
    """The cardholder (or account holder) disputes ``charge``: funds are withdrawn."""
    if charge["status"] != "succeeded":
        raise errors.invalid(f"Charge {charge['id']} has not succeeded; it cannot be "
                             "disputed.", "charge")
    if any(d["charge"] == charge["id"] and d["status"] in OPEN
           for d in store.objects["dispute"].values()):
        raise errors.invalid(f"Charge {charge['id']} already has an open dispute.", "charge")
    if reason not in REASONS:
        raise errors.invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", "reason")
    amount = charge["amount"] if amount is None else amount
    if not 0 < amount <= charge["amount"]:
        raise errors.invalid("The dispute amount must be positive and at most the charge "
                             "amount.", "amount")
    dispute = make(
        "dispute", id=new_id("du"), amount=amount, charge=charge["id"], created=store.now(),
        currency=charge["currency"], payment_intent=charge["payment_intent"], reason=reason,
        status="needs_response", is_charge_refundable=False, balance_transactions=[],
        payment_method_details=_method_details(charge))
    dispute["evidence_details"]["due_by"] = store.now() + 7 * 24 * 60 * 60
    for key in dispute["evidence"]:
        dispute["evidence"][key] = {} if key == "enhanced_evidence" else None
    store.add(dispute)
    charge["disputed"] = True
    emit(store, "charge.dispute.created", dispute)
    _move_funds(store, dispute, -amount, "Chargeback withdrawal")
    emit(store, "charge.dispute.funds_withdrawn", dispute)
    return dispute


def _method_details(charge: dict[str, Any]) -> dict[str, Any]:
    details = charge["payment_method_details"] or {}
    if details.get("type") == "card":
        return {"type": "card", "card": {"brand": details["card"]["brand"],
                                         "case_type": "chargeback",
                                         "network_reason_code": "10.4",
                                         "network": details["card"]["network"]}}
    return {"type": details.get("type", "card"), details.get("type", "card"): {}}


def _move_funds(store: Store, dispute: dict[str, Any], amount: int, description: str) -> None:
    transaction = make("balance_transaction", id=new_id("txn"), amount=amount,
                       net=amount, fee=0, fee_details=[],
                       created=store.now(), available_on=store.now(),
                       currency=dispute["currency"], description=f"{description} for "
                       f"{dispute['charge']}", reporting_category="dispute" if amount < 0
                       else "dispute_reversal", source=dispute["id"], status="available",
                       type="adjustment")
    dispute["balance_transactions"] = dispute["balance_transactions"] + [transaction]


def _require_open(dispute: dict[str, Any]) -> None:
    if dispute["status"] not in OPEN:
        raise errors.invalid(f"Dispute {dispute['id']} is already closed "
                             f"({dispute['status']}).", "dispute")


def win(store: Store, dispute: dict[str, Any]) -> dict[str, Any]:
    """The merchant won: funds reinstated, dispute closed as ``won``."""
    _require_open(dispute)
    _move_funds(store, dispute, dispute["amount"], "Chargeback reversal")
    emit(store, "charge.dispute.funds_reinstated", dispute)
    previous = apply(dispute, status="won")
    emit(store, "charge.dispute.closed", dispute, previous)
    return dispute


def lose(store: Store, dispute: dict[str, Any]) -> dict[str, Any]:
    """The merchant lost (or accepted it with ``POST /v1/disputes/{id}/close``)."""
    _require_open(dispute)
    previous = apply(dispute, status="lost")
    emit(store, "charge.dispute.closed", dispute, previous)
    return dispute

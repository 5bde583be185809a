"""Refunds: full or partial, by payment intent or charge; card refunds succeed at once, ACH
refunds start ``pending``; the control API can make one succeed or fail later."""

from __future__ import annotations

from typing import Any

from stripe_sandbox import errors
from stripe_sandbox import params as p
from stripe_sandbox.disputes import OPEN
from stripe_sandbox.events import apply, emit
from stripe_sandbox.objects import list_object, make, new_id, snapshot
from stripe_sandbox.store import Store

CREATE = {"payment_intent": p.string(), "charge": p.string(), "amount": p.integer(1),
          "reason": p.enum("duplicate", "fraudulent", "requested_by_customer"),
          "metadata": p.metadata, "instructions_email": p.string(), "expand": [p.string()]}
LIST = dict(p.LIST, charge=p.string(), payment_intent=p.string())
FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card", "declined",
                   "insufficient_funds", "merchant_request", "unknown")


def _charge_to_refund(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("charge") and not params.get("payment_intent"):
        raise errors.invalid("One of the following params should be provided for this "
                             "request: payment_intent or charge.", "charge",
                             "parameter_missing")
    if params.get("charge") and params.get("payment_intent"):
        raise errors.invalid("You may only specify one of these parameters: charge, "
                             "payment_intent.", "payment_intent")
    if params.get("charge"):
        return store.get("charge", params["charge"], "charge", status=400)
    intent = store.get("payment_intent", params["payment_intent"], "payment_intent", 400)
    if intent["status"] != "succeeded":
        raise errors.invalid(f"This PaymentIntent ({intent['id']}) does not have a "
                             "successful charge to refund.", "payment_intent",
                             "charge_not_refundable")
    return store.get("charge", intent["latest_charge"])


def create(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/refunds``."""
    charge = _charge_to_refund(store, params)
    if charge["status"] != "succeeded":
        raise errors.invalid(f"Charge {charge['id']} has not succeeded; only succeeded "
                             "charges can be refunded.", "charge", "charge_not_refundable")
    if any(d["charge"] == charge["id"] and d["status"] in OPEN
           for d in store.objects["dispute"].values()):
        raise errors.invalid(f"Charge {charge['id']} has been charged back; cannot issue a "
                             "refund.", "charge", "charge_disputed")
    refundable = charge["amount"] - charge["amount_refunded"]
    if refundable <= 0:
        raise errors.invalid(f"Charge {charge['id']} has already been refunded.", "charge",
                             "charge_already_refunded")
    amount = params.get("amount", refundable)
    if amount > refundable:
        raise errors.invalid(f"Refund amount ({amount}) is greater than unrefunded amount on "
                             f"charge ({refundable})", "amount", "amount_too_large")
    kind = (charge["payment_method_details"] or {}).get("type", "card")
    refund = make(
        "refund", id=new_id("re"), amount=amount, charge=charge["id"], created=store.now(),
        currency=charge["currency"], metadata=params.get("metadata", {}),
        payment_intent=charge["payment_intent"], reason=params.get("reason"),
        status="pending" if kind == "us_bank_account" else "succeeded",
        balance_transaction=new_id("txn"), customer=charge["customer"],
        payment_method=charge["payment_method"], destination_details=_destination(kind))
    store.add(refund)
    previous = apply(charge, amount_refunded=charge["amount_refunded"] + amount,
                     refunded=charge["amount_refunded"] + amount == charge["amount"])
    previous["refunds"] = snapshot(charge["refunds"])
    _list_refunds_on(store, charge)
    emit(store, "charge.refunded", charge, previous)
    emit(store, "refund.created", refund)
    return refund


def _destination(kind: str) -> dict[str, Any]:
    if kind == "card":
        return {"type": "card", "card": {"reference": None, "reference_status": "pending",
                                         "reference_type": "acquirer_reference_number",
                                         "type": "refund"}}
    return {"type": kind, kind: {"reference": None, "reference_status": "pending"}}


def _list_refunds_on(store: Store, charge: dict[str, Any]) -> None:
    mine = store.newest_first("refund", lambda refund: refund["charge"] == charge["id"])
    charge["refunds"] = list_object([snapshot(refund) for refund in mine],
                                    f"/v1/charges/{charge['id']}/refunds")


def succeed(store: Store, refund: dict[str, Any]) -> dict[str, Any]:
    """A pending refund reached the customer."""
    if refund["status"] != "pending":
        raise errors.invalid(f"Refund {refund['id']} is {refund['status']}, not pending.",
                             "refund")
    _update(store, refund, "succeeded")
    return refund


def fail(store: Store, refund: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    """The refund could not reach the customer: the money returns to the merchant."""
    if refund["status"] not in ("pending", "succeeded"):
        raise errors.invalid(f"Refund {refund['id']} is {refund['status']}; it cannot fail.",
                             "refund")
    charge = store.get("charge", refund["charge"])
    kind = (charge["payment_method_details"] or {}).get("type", "card")
    reason = reason or ("expired_or_canceled_card" if kind == "card" else "declined")
    if reason not in FAILURE_REASONS:
        raise errors.invalid(f"Invalid failure_reason: must be one of "
                             f"{', '.join(FAILURE_REASONS)}", "failure_reason")
    refund.update(failure_reason=reason, failure_balance_transaction=new_id("txn"))
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = False
    _update(store, refund, "failed")
    emit(store, "refund.failed", refund)
    return refund


def _update(store: Store, refund: dict[str, Any], status: str) -> None:
    previous = apply(refund, status=status)
    charge = store.get("charge", refund["charge"])
    _list_refunds_on(store, charge)
    emit(store, "charge.refund.updated", refund, previous)
    emit(store, "refund.updated", refund, previous)

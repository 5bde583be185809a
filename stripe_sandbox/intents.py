"""PaymentIntents, PaymentMethods and Charges: how they are built and the two transitions
every flow ends in (succeed, fail), each with the events Stripe sends for it."""

from __future__ import annotations

import hashlib
from typing import Any

from stripe_sandbox.events import apply, emit
from stripe_sandbox.objects import FIXTURES, list_object, make, new_id, snapshot
from stripe_sandbox.store import Store

APPROVED = {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "approved_by_network", "reason": None, "risk_level": "normal",
            "seller_message": "Payment complete.", "type": "authorized"}


def fingerprint(*parts: str) -> str:
    """A stable fingerprint for the same card or bank account."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def create_intent(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """The PaymentIntent Checkout creates when the payer first confirms."""
    data = store.facts(session["id"])["payment_intent_data"]
    intent_id = new_id("pi")
    intent = make(
        "payment_intent", id=intent_id, created=store.now(), amount=session["amount_total"],
        currency=session["currency"], customer=session["customer"],
        description=data.get("description"), metadata=dict(data.get("metadata", {})),
        receipt_email=data.get("receipt_email"),
        statement_descriptor_suffix=data.get("statement_descriptor_suffix"),
        client_secret=f"{intent_id}_secret_{new_id('x')[2:]}", amount_received=0,
        capture_method="automatic_async", confirmation_method="automatic",
        payment_method_types=list(session["payment_method_types"]),
        payment_method_options=snapshot(session["payment_method_options"]),
        status="requires_payment_method", latest_charge=None, payment_method=None)
    store.add(intent)
    store.facts(intent_id)["session"] = session["id"]
    session["payment_intent"] = intent_id
    emit(store, "payment_intent.created", intent)
    return intent


def card_method(store: Store, number: str, card: dict[str, Any],
                billing: dict[str, Any]) -> dict[str, Any]:
    """A ``card`` PaymentMethod for a test card number."""
    details = snapshot(FIXTURES["payment_method"]["card"])
    details.update(brand=card["brand"], display_brand=card["brand"], last4=number[-4:],
                   exp_month=card["exp_month"], exp_year=card["exp_year"],
                   funding=card["funding"], fingerprint=fingerprint(number), wallet=None,
                   generated_from=None, networks={"available": [card["brand"]],
                                                  "preferred": None})
    method = make("payment_method", id=new_id("pm"), type="card", created=store.now(),
                  card=details, billing_details=_billing(billing))
    return store.add(method)


def bank_method(store: Store, routing: str, account: str, account_type: str,
                billing: dict[str, Any]) -> dict[str, Any]:
    """A ``us_bank_account`` PaymentMethod."""
    details = {"account_holder_type": "individual", "account_type": account_type,
               "bank_name": "STRIPE TEST BANK", "financial_connections_account": None,
               "fingerprint": fingerprint(routing, account), "last4": account[-4:],
               "networks": {"preferred": "ach", "supported": ["ach"]},
               "routing_number": routing, "status_details": {}}
    method = make("payment_method", id=new_id("pm"), type="us_bank_account",
                  created=store.now(), us_bank_account=details,
                  billing_details=_billing(billing))
    return store.add(method)


def balance_method(store: Store, billing: dict[str, Any]) -> dict[str, Any]:
    """A ``customer_balance`` PaymentMethod (bank transfers)."""
    method = make("payment_method", id=new_id("pm"), type="customer_balance",
                  created=store.now(), customer_balance={}, billing_details=_billing(billing))
    return store.add(method)


def _billing(billing: dict[str, Any]) -> dict[str, Any]:
    blank = snapshot(make("payment_method")["billing_details"])
    blank.update(name=billing.get("name"), email=billing.get("email"))
    return blank


def method_details(method: dict[str, Any], three_d_secure: bool = False) -> dict[str, Any]:
    """A charge's ``payment_method_details`` for ``method``."""
    kind = method["type"]
    if kind == "card":
        card = snapshot(FIXTURES["charge"]["payment_method_details"]["card"])
        source = method["card"]
        card.update({key: source[key] for key in ("brand", "last4", "exp_month", "exp_year",
                                                  "funding", "fingerprint", "country")})
        card.update(network=source["brand"], wallet=None, three_d_secure=None)
        if three_d_secure:
            card["three_d_secure"] = {"authentication_flow": "challenge",
                                      "electronic_commerce_indicator": "05",
                                      "exemption_indicator": None, "result": "authenticated",
                                      "result_reason": None, "transaction_id": new_id("3ds"),
                                      "version": "2.2.0"}
        return {"type": "card", "card": card}
    if kind == "us_bank_account":
        bank = {key: method["us_bank_account"][key] for key in (
            "account_holder_type", "account_type", "bank_name", "fingerprint", "last4",
            "routing_number")}
        bank.update(mandate=new_id("mandate"), payment_reference=None)
        return {"type": "us_bank_account", "us_bank_account": bank}
    return {"type": "customer_balance", "customer_balance": {}}


def new_charge(store: Store, intent: dict[str, Any], method: dict[str, Any], status: str,
               three_d_secure: bool = False) -> dict[str, Any]:
    """A charge of ``intent`` with ``method``: ``ch_`` for cards, ``py_`` for the rest."""
    charge_id = new_id("ch" if method["type"] == "card" else "py")
    succeeded = status == "succeeded"
    charge = make(
        "charge", id=charge_id, created=store.now(), amount=intent["amount"],
        amount_captured=0 if status == "failed" else intent["amount"], amount_refunded=0,
        captured=status != "failed", currency=intent["currency"], customer=intent["customer"],
        description=intent["description"], disputed=False, failure_code=None,
        failure_message=None, metadata=dict(intent["metadata"]), outcome=dict(APPROVED),
        paid=succeeded, payment_intent=intent["id"], payment_method=method["id"],
        payment_method_details=method_details(method, three_d_secure),
        billing_details=snapshot(method["billing_details"]),
        calculated_statement_descriptor="AR PORTAL SANDBOX",
        receipt_email=intent["receipt_email"], refunded=False, status=status,
        balance_transaction=new_id("txn") if succeeded else None,
        refunds=list_object([], f"/v1/charges/{charge_id}/refunds"))
    store.add(charge)
    intent["latest_charge"] = charge_id
    return charge


def succeed(store: Store, intent: dict[str, Any], charge: dict[str, Any]) -> None:
    """``charge.succeeded`` then ``payment_intent.succeeded``."""
    apply(charge, status="succeeded", paid=True,
          balance_transaction=charge["balance_transaction"] or new_id("txn"))
    emit(store, "charge.succeeded", charge)
    apply(intent, status="succeeded", amount_received=intent["amount"],
          latest_charge=charge["id"], payment_method=charge["payment_method"],
          last_payment_error=None, next_action=None, processing=None)
    emit(store, "payment_intent.succeeded", intent)


def fail(store: Store, intent: dict[str, Any], charge: dict[str, Any] | None,
         error: dict[str, Any]) -> None:
    """``charge.failed`` (when a charge was attempted) then ``payment_intent.payment_failed``;
    the intent goes back to ``requires_payment_method`` so the payer can try again."""
    method = store.find(intent["payment_method"] or "")
    error = dict(error, payment_method=snapshot(method) if method else None,
                 payment_method_type=method["type"] if method else None)
    if charge is not None:
        error["charge"] = charge["id"]
        outcome = dict(APPROVED, network_status="declined_by_network", type="issuer_declined",
                       reason=error.get("decline_code") or error.get("code"),
                       seller_message="The bank did not return any further details with "
                                      "this decline.")
        apply(charge, status="failed", paid=False, captured=False, amount_captured=0,
              failure_code=error.get("code"), failure_message=error.get("message"),
              outcome=outcome, balance_transaction=None)
        emit(store, "charge.failed", charge)
    apply(intent, status="requires_payment_method", last_payment_error=error,
          payment_method=None, next_action=None, processing=None)
    emit(store, "payment_intent.payment_failed", intent)

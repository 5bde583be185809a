"""Money that arrives later: ACH debits (processing → settled or returned with an ACH return
code), microdeposit verification, and bank transfers into the customer's cash balance that
fund waiting PaymentIntents in full or in part."""

from __future__ import annotations

import time
from typing import Any

from stripe_sandbox import checkout, errors, intents
from stripe_sandbox.disputes import open_dispute
from stripe_sandbox.events import apply, emit
from stripe_sandbox.objects import make, new_id, random_code
from stripe_sandbox.store import Store
from stripe_sandbox.testdata import (
    BANK_ACCOUNTS,
    MICRODEPOSIT_AMOUNTS,
    MICRODEPOSIT_DESCRIPTOR,
    RETURN_CODES,
    TEST_ROUTING_NUMBER,
)

MICRODEPOSIT_ATTEMPTS = 3


def start_debit(store: Store, intent: dict[str, Any]) -> dict[str, Any]:
    """Initiate the ACH debit: a pending charge and a ``processing`` intent (no events)."""
    method = store.get("payment_method", intent["payment_method"])
    charge = intents.new_charge(store, intent, method, "pending")
    apply(intent, status="processing", next_action=None, last_payment_error=None)
    delay = store.config.get("SANDBOX_ACH_SETTLE_AFTER")
    if delay is not None:
        store.facts(intent["id"])["resolve_at"] = time.monotonic() + float(delay)
    return charge


def announce_debit(store: Store, intent: dict[str, Any], charge: dict[str, Any]) -> None:
    """``payment_intent.processing`` and ``charge.pending``."""
    emit(store, "payment_intent.processing", intent)
    emit(store, "charge.pending", charge)


def _debit(store: Store, intent: dict[str, Any]) -> dict[str, Any]:
    method = store.objects["payment_method"].get(intent["payment_method"] or "")
    if intent["status"] != "processing" or not method or method["type"] != "us_bank_account":
        raise errors.invalid(f"PaymentIntent {intent['id']} has no ACH debit processing "
                             f"(status {intent['status']}).", "payment_intent",
                             "payment_intent_unexpected_state")
    return store.get("charge", intent["latest_charge"])


def settle(store: Store, intent: dict[str, Any]) -> dict[str, Any]:
    """The ACH debit cleared: charge and intent succeed, the session is paid."""
    charge = _debit(store, intent)
    intents.succeed(store, intent, charge)
    checkout.async_result(store, store.facts(intent["id"]).get("session"), succeeded=True)
    return intent


def fail_debit(store: Store, intent: dict[str, Any], return_code: str) -> dict[str, Any]:
    """The ACH debit was returned with ``return_code`` (e.g. ``R01``)."""
    reason = RETURN_CODES.get(return_code)
    if reason is None:
        raise errors.invalid(f"Unknown ACH return code {return_code!r}; the sandbox knows "
                             + ", ".join(RETURN_CODES) + ".", "return_code")
    charge = _debit(store, intent)
    store.facts(charge["id"])["return_code"] = reason.code
    error = {"type": "invalid_request_error", "code": reason.failure_code,
             "decline_code": None,
             "message": f"{reason.message} (ACH return code {reason.code})"}
    intents.fail(store, intent, charge, error)
    checkout.async_result(store, store.facts(intent["id"]).get("session"), succeeded=False)
    return intent


def advance(store: Store, intent: dict[str, Any]) -> dict[str, Any]:
    """Resolve the debit the way its test account number says (success, return, dispute)."""
    _debit(store, intent)
    account = store.facts(intent["id"]).get("account_number", "")
    behaviour = BANK_ACCOUNTS.get(account, BANK_ACCOUNTS["000123456789"])
    if behaviour.outcome == "fail":
        return fail_debit(store, intent, behaviour.return_code or "R01")
    settle(store, intent)
    if behaviour.outcome == "dispute":
        open_dispute(store, store.get("charge", intent["latest_charge"]), "fraudulent")
    return intent


def await_microdeposits(store: Store, intent: dict[str, Any], base_url: str) -> None:
    """The intent waits for the payer to confirm the microdeposit amounts (no events)."""
    apply(intent, status="requires_action", next_action={
        "type": "verify_with_microdeposits", "verify_with_microdeposits": {
            "arrival_date": store.now() + 2 * 24 * 60 * 60,
            "hosted_verification_url": f"{base_url}/verify/{intent['id']}",
            "microdeposit_type": "amounts"}})


def verify_microdeposits(store: Store, intent: dict[str, Any], amounts: list[int] | None,
                         descriptor_code: str | None) -> dict[str, Any]:
    """``POST /v1/payment_intents/{id}/verify_microdeposits``: 32 and 45, or SM11AA."""
    if (intent["status"] != "requires_action"
            or (intent["next_action"] or {}).get("type") != "verify_with_microdeposits"):
        raise errors.invalid("This PaymentIntent is not waiting for microdeposit "
                             "verification.", "intent", "payment_intent_unexpected_state")
    if not amounts and not descriptor_code:
        raise errors.missing_param("amounts")
    if sorted(amounts or []) != list(MICRODEPOSIT_AMOUNTS) and (
            descriptor_code != MICRODEPOSIT_DESCRIPTOR):
        raise _wrong_microdeposits(store, intent)
    charge = start_debit(store, intent)
    announce_debit(store, intent, charge)
    return intent


def _wrong_microdeposits(store: Store, intent: dict[str, Any]) -> errors.StripeError:
    facts = store.facts(intent["id"])
    facts["microdeposit_attempts"] = facts.get("microdeposit_attempts", 0) + 1
    if facts["microdeposit_attempts"] < MICRODEPOSIT_ATTEMPTS:
        return errors.invalid("The amounts provided do not match the amounts that were sent "
                              "to the bank account.", "amounts",
                              "payment_method_microdeposit_verification_amounts_mismatch")
    error = {"type": "invalid_request_error",
             "code": "payment_method_microdeposit_verification_attempts_exceeded",
             "message": "You have exceeded the number of allowed verification attempts."}
    intents.fail(store, intent, None, error)
    checkout.async_result(store, facts.get("session"), succeeded=False)
    return errors.invalid(error["message"], "amounts", error["code"])


def await_transfer(store: Store, intent: dict[str, Any], base_url: str) -> None:
    """The intent shows bank transfer instructions for the customer's virtual account."""
    account = store.facts(intent["customer"]).setdefault(
        "virtual_account", random_code(12, "0123456789"))
    reference = random_code(12)
    store.facts(intent["id"])["reference"] = reference
    address = {"type": "aba", "supported_networks": ["ach", "domestic_wire_us"],
               "aba": {"account_holder_name": "AR Portal Sandbox", "account_number": account,
                       "account_type": "checking", "bank_name": "STRIPE TEST BANK",
                       "routing_number": TEST_ROUTING_NUMBER}}
    apply(intent, status="requires_action", next_action={
        "type": "display_bank_transfer_instructions",
        "display_bank_transfer_instructions": {
            "amount_remaining": intent["amount"], "currency": intent["currency"],
            "financial_addresses": [address], "reference": reference,
            "hosted_instructions_url": f"{base_url}/bank_transfer/{intent['id']}",
            "type": "us_bank_transfer"}})


def _awaiting(intent: dict[str, Any]) -> bool:
    action = intent["next_action"] or {}
    return (intent["status"] == "requires_action"
            and action.get("type") == "display_bank_transfer_instructions")


def fund(store: Store, customer: dict[str, Any], amount: int, currency: str,
         reference: str | None = None) -> dict[str, Any]:
    """A bank transfer arrives: fund the cash balance, then apply it to waiting intents
    (the one whose reference matches first, then the oldest)."""
    balance = store.facts(customer["id"]).setdefault("cash_balance", {})
    balance[currency] = balance.get(currency, 0) + amount
    funded = {"bank_transfer": {
        "reference": reference, "type": "us_bank_transfer",
        "us_bank_transfer": {"network": "ach", "sender_name": customer.get("name")}}}
    txn = _cash_transaction(store, customer["id"], currency, amount, "funded", funded=funded)
    waiting = [intent for intent in reversed(store.newest_first("payment_intent"))
               if intent["customer"] == customer["id"] and intent["currency"] == currency
               and _awaiting(intent)]
    waiting.sort(key=lambda intent: store.facts(intent["id"]).get("reference") != reference)
    for intent in waiting:
        apply_cash_balance(store, intent)
    if balance[currency] > 0:
        cash = make("cash_balance", customer=customer["id"], available=dict(balance))
        emit(store, "cash_balance.funds_available", cash)
    return txn


def apply_cash_balance(store: Store, intent: dict[str, Any]) -> None:
    """Apply what the customer's cash balance holds to a waiting bank transfer intent."""
    balance = store.facts(intent["customer"]).get("cash_balance", {})
    available = balance.get(intent["currency"], 0)
    if not _awaiting(intent) or available <= 0:
        return
    instructions = dict(intent["next_action"]["display_bank_transfer_instructions"])
    applied = min(available, instructions["amount_remaining"])
    balance[intent["currency"]] = available - applied
    _cash_transaction(store, intent["customer"], intent["currency"], -applied,
                      "applied_to_payment", applied_to_payment={"payment_intent": intent["id"]})
    instructions["amount_remaining"] -= applied
    if instructions["amount_remaining"] > 0:
        apply(intent, next_action={"type": "display_bank_transfer_instructions",
                                   "display_bank_transfer_instructions": instructions})
        emit(store, "payment_intent.partially_funded", intent)
        return
    method = store.get("payment_method", intent["payment_method"])
    charge = intents.new_charge(store, intent, method, "succeeded")
    intents.succeed(store, intent, charge)
    checkout.async_result(store, store.facts(intent["id"]).get("session"), succeeded=True)


def _cash_transaction(store: Store, customer: str, currency: str, net: int, type_: str,
                      **detail: Any) -> dict[str, Any]:
    ending = store.facts(customer)["cash_balance"][currency]
    txn = make("customer_cash_balance_transaction", id=new_id("ccsbtxn"),
               created=store.now(), currency=currency, customer=customer,
               ending_balance=ending, net_amount=net, type=type_, **detail)
    store.add(txn)
    emit(store, "customer_cash_balance_transaction.created", txn)
    return txn


def tick(store: Store) -> None:
    """Time-driven changes: expire sessions past ``expires_at``; resolve ACH debits whose
    configured settlement delay (``SANDBOX_ACH_SETTLE_AFTER``) has passed."""
    checkout.expire_due(store)
    now = time.monotonic()
    for object_id, facts in list(store.private.items()):
        due = facts.get("resolve_at")
        if due is not None and due <= now:
            del facts["resolve_at"]
            intent = store.objects["payment_intent"].get(object_id)
            if intent and intent["status"] == "processing":
                advance(store, intent)

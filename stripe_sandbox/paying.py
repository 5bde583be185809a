"""What happens when the payer submits the hosted checkout page (or the control API pays a
session for a test): cards with Stripe's test numbers, US bank accounts (instant or
microdeposit verification) and bank transfers to the customer's cash balance."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from stripe_sandbox import checkout, intents, settlement
from stripe_sandbox.disputes import open_dispute
from stripe_sandbox.events import apply, emit
from stripe_sandbox.objects import snapshot
from stripe_sandbox.store import Store
from stripe_sandbox.testdata import BANK_ACCOUNTS, CARDS, TEST_ROUTING_NUMBER, brand, luhn_valid

AUTH_FAILED = ("The provided PaymentMethod has failed authentication. You can provide "
               "payment_method_data or a new PaymentMethod to attempt to fulfill this "
               "PaymentIntent again.")


class PaymentFormError(Exception):
    """Details the payer must correct; nothing was created at "Stripe"."""


@dataclass
class Outcome:
    """How an attempt ended, for the hosted page and the control API."""

    status: str  # succeeded, declined, requires_action, processing, awaiting_transfer,
    #              verify_microdeposits
    session: dict[str, Any]
    intent: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    redirect: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def pay(store: Store, session: dict[str, Any], method: str, form: dict[str, Any],
        base_url: str) -> Outcome:
    """Attempt to pay ``session`` with ``method`` (card, us_bank_account, customer_balance)."""
    if session["status"] != "open":
        raise PaymentFormError(f"This Checkout Session is {session['status']}; it can no "
                               "longer be paid.")
    if method not in session["payment_method_types"]:
        raise PaymentFormError(f"This Checkout Session does not accept {method}.")
    billing = {"name": form.get("name") or None, "email": form.get("email") or None}
    if method == "card":
        return _pay_by_card(store, session, form, billing, base_url)
    if method == "us_bank_account":
        return _pay_by_bank(store, session, form, billing, base_url)
    return _pay_by_transfer(store, session, billing, base_url)


def success_redirect(session: dict[str, Any]) -> str:
    """``success_url`` with ``{CHECKOUT_SESSION_ID}`` filled in, as Checkout redirects."""
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


def _intent_for(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    existing = store.objects["payment_intent"].get(session["payment_intent"] or "")
    if existing and existing["status"] in ("requires_payment_method", "requires_action"):
        return existing
    return intents.create_intent(store, session)


def _card_fields(form: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    number = re.sub(r"[\s-]", "", str(form.get("number") or ""))
    if not number.isdigit() or not luhn_valid(number):
        raise PaymentFormError("Your card number is incorrect.")
    if number not in CARDS:
        raise PaymentFormError("Your card was declined. Your request was in test mode, but "
                               "used a non test card. Use one of Stripe's test cards.")
    exp_month, exp_year = _expiry(form)
    cvc = str(form.get("cvc") or "123")
    if not re.fullmatch(r"\d{3,4}", cvc):
        raise PaymentFormError("Your card's security code is incomplete.")
    card = {"brand": brand(number), "exp_month": exp_month, "exp_year": exp_year,
            "funding": CARDS[number].funding}
    return number, card


def _expiry(form: dict[str, Any]) -> tuple[int, int]:
    text = str(form.get("exp") or "")
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", text)
    if match:
        month, year = int(match.group(1)), int(match.group(2))
    elif text:
        raise PaymentFormError("Your card's expiration date is incomplete.")
    else:
        month, year = int(form.get("exp_month") or 12), int(form.get("exp_year") or 2034)
    year = year + 2000 if year < 100 else year
    today = datetime.date.today()
    if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
        raise PaymentFormError("Your card's expiration date is in the past.")
    return month, year


def _pay_by_card(store: Store, session: dict[str, Any], form: dict[str, Any],
                 billing: dict[str, Any], base_url: str) -> Outcome:
    number, card = _card_fields(form)
    behaviour = CARDS[number]
    intent = _intent_for(store, session)
    method = intents.card_method(store, number, card, billing)
    intent["payment_method"] = method["id"]
    if behaviour.outcome == "authenticate":
        return _require_authentication(store, session, intent, base_url)
    if behaviour.outcome == "decline":
        error = {"type": "card_error", "code": behaviour.code,
                 "decline_code": behaviour.decline_code, "message": behaviour.message,
                 "doc_url": f"https://stripe.com/docs/error-codes/{behaviour.code}"}
        charge = intents.new_charge(store, intent, method, "failed")
        intents.fail(store, intent, charge, error)
        return Outcome("declined", session, intent, intent["last_payment_error"])
    charge = _charge_card(store, session, intent, method, billing, three_d_secure=False)
    if behaviour.outcome == "dispute":
        open_dispute(store, charge, reason="fraudulent")
    return Outcome("succeeded", session, intent, redirect=success_redirect(session))


def _charge_card(store: Store, session: dict[str, Any], intent: dict[str, Any],
                 method: dict[str, Any], billing: dict[str, Any],
                 three_d_secure: bool) -> dict[str, Any]:
    charge = intents.new_charge(store, intent, method, "succeeded", three_d_secure)
    intents.succeed(store, intent, charge)
    details = checkout.customer_details(store, session, billing["name"], billing["email"])
    checkout.complete(store, session, intent, details)
    return charge


def _require_authentication(store: Store, session: dict[str, Any], intent: dict[str, Any],
                            base_url: str) -> Outcome:
    url = f"{base_url}/checkout/{session['id']}/authenticate"
    apply(intent, status="requires_action", next_action={
        "type": "redirect_to_url",
        "redirect_to_url": {"url": url, "return_url": f"{base_url}/checkout/{session['id']}"}})
    emit(store, "payment_intent.requires_action", intent)
    return Outcome("requires_action", session, intent, redirect=url)


def authenticate(store: Store, session: dict[str, Any], completed: bool) -> Outcome:
    """The payer pressed "Complete" or "Fail" on the 3-D Secure page."""
    intent = store.objects["payment_intent"].get(session["payment_intent"] or "")
    if (session["status"] != "open" or intent is None or intent["status"] != "requires_action"
            or (intent["next_action"] or {}).get("type") != "redirect_to_url"):
        raise PaymentFormError("There is no card payment waiting for authentication.")
    method = store.get("payment_method", intent["payment_method"])
    if completed:
        billing = {"name": method["billing_details"]["name"],
                   "email": method["billing_details"]["email"]}
        _charge_card(store, session, intent, method, billing, three_d_secure=True)
        return Outcome("succeeded", session, intent, redirect=success_redirect(session))
    error = {"type": "invalid_request_error", "code": "payment_intent_authentication_failure",
             "message": AUTH_FAILED,
             "doc_url": "https://stripe.com/docs/error-codes/"
                        "payment-intent-authentication-failure"}
    intents.fail(store, intent, None, error)
    return Outcome("declined", session, intent, intent["last_payment_error"])


def _verification(session: dict[str, Any], form: dict[str, Any]) -> str:
    allowed = session["payment_method_options"]["us_bank_account"]["verification_method"]
    requested = form.get("verification") or ("microdeposits" if allowed == "microdeposits"
                                             else "instant")
    if requested not in ("instant", "microdeposits"):
        raise PaymentFormError("Choose instant or microdeposit verification.")
    if allowed != "automatic" and requested != allowed:
        raise PaymentFormError(f"This Checkout Session accepts {allowed} verification only.")
    return requested


def _pay_by_bank(store: Store, session: dict[str, Any], form: dict[str, Any],
                 billing: dict[str, Any], base_url: str) -> Outcome:
    routing = re.sub(r"\D", "", str(form.get("routing_number") or ""))
    account = re.sub(r"\D", "", str(form.get("account_number") or ""))
    if routing != TEST_ROUTING_NUMBER:
        raise PaymentFormError(f"Use the test routing number {TEST_ROUTING_NUMBER}.")
    if account not in BANK_ACCOUNTS:
        raise PaymentFormError("Use one of Stripe's test account numbers: "
                               + ", ".join(BANK_ACCOUNTS) + ".")
    verification = _verification(session, form)
    account_type = form.get("account_type") or "checking"
    if account_type not in ("checking", "savings"):
        raise PaymentFormError("Choose a checking or savings account.")
    intent = _intent_for(store, session)
    method = intents.bank_method(store, routing, account, account_type, billing)
    intent["payment_method"] = method["id"]
    store.facts(intent["id"]).update(account_number=account, microdeposit_attempts=0)
    details = checkout.customer_details(store, session, billing["name"], billing["email"])
    if verification == "microdeposits":
        settlement.await_microdeposits(store, intent, base_url)
        checkout.complete(store, session, intent, details)
        emit(store, "payment_intent.requires_action", intent)
        return Outcome("verify_microdeposits", session, intent,
                       redirect=success_redirect(session))
    charge = settlement.start_debit(store, intent)
    checkout.complete(store, session, intent, details)
    settlement.announce_debit(store, intent, charge)
    return Outcome("processing", session, intent, redirect=success_redirect(session))


def _pay_by_transfer(store: Store, session: dict[str, Any], billing: dict[str, Any],
                     base_url: str) -> Outcome:
    intent = _intent_for(store, session)
    method = intents.balance_method(store, billing)
    intent["payment_method"] = method["id"]
    settlement.await_transfer(store, intent, base_url)
    details = checkout.customer_details(store, session, billing["name"], billing["email"])
    checkout.complete(store, session, intent, details)
    emit(store, "payment_intent.requires_action", intent)
    settlement.apply_cash_balance(store, intent)
    return Outcome("awaiting_transfer", session, intent, redirect=success_redirect(session),
                   extra={"instructions": snapshot(intent["next_action"])})

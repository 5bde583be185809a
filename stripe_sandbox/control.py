"""``/_sandbox/``: control endpoints for tests and demos (JSON in and out, no API key; bind
the sandbox to localhost). They do what the payer, the banks and the card networks would do,
inject webhook faults, move the clock, and show the delivery log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from stripe_sandbox import disputes, endpoints, errors, paying, refunds, settlement
from stripe_sandbox.api import base_url, store
from stripe_sandbox.delivery import FAULTS
from stripe_sandbox.money import CURRENCIES
from stripe_sandbox.objects import snapshot

bp = Blueprint("control", __name__, url_prefix="/_sandbox")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise errors.invalid("Send a JSON object.")
    return body


def control(rule: str, methods: tuple[str, ...] = ("POST",)) -> Callable:
    """Register ``handler(body, **path) -> dict`` under the lock, with Stripe-shaped errors."""
    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        def view(**path: str) -> Response | tuple[Response, int]:
            try:
                with store().lock:
                    settlement.tick(store())
                    return jsonify(snapshot(handler(_body(), **path)))
            except errors.StripeError as exc:
                return jsonify(exc.body()), exc.status
            except paying.PaymentFormError as exc:
                return jsonify(errors.invalid(str(exc)).body()), 400
        bp.add_url_rule(rule, handler.__name__, view, methods=list(methods))
        return handler
    return register


def _sandbox() -> Any:
    return current_app.extensions["stripe_sandbox"]


@control("/", methods=("GET",))
def overview(body: dict[str, Any]) -> dict[str, Any]:
    """Counts of objects, faults and clock offset."""
    state = store()
    return {"objects": {kind: len(objects) for kind, objects in state.objects.items()},
            "faults": _sandbox().deliverer.faults, "clock_offset": state.clock_offset,
            "now": state.now()}


@control("/reset")
def reset(body: dict[str, Any]) -> dict[str, Any]:
    """Forget everything; re-register the webhook endpoints configured at start."""
    _sandbox().reset()
    return {"reset": True}


@control("/deliveries", methods=("GET",))
def deliveries(body: dict[str, Any]) -> dict[str, Any]:
    """The delivery log: ``?event=&type=&endpoint=&status=`` (pending, delivered, failed,
    dropped), each with its attempts."""
    filters = {key: request.args.get(key) for key in ("event", "type", "endpoint", "status")}
    return {"data": _sandbox().deliverer.log(**filters)}


@control("/faults", methods=("GET", "POST", "DELETE"))
def faults(body: dict[str, Any]) -> dict[str, Any]:
    """Read, change (POST a partial object) or clear (DELETE) the webhook faults."""
    deliverer = _sandbox().deliverer
    if request.method == "DELETE":
        return deliverer.set_faults(dict(FAULTS))
    return deliverer.set_faults(body) if request.method == "POST" else dict(deliverer.faults)


@control("/clock", methods=("GET", "POST"))
def clock(body: dict[str, Any]) -> dict[str, Any]:
    """Move the sandbox clock forward: ``{"advance": seconds}`` (sessions expire, events
    age past 30 days)."""
    state = store()
    if request.method == "POST":
        advance = body.get("advance")
        if not isinstance(advance, int) or isinstance(advance, bool) or advance < 0:
            raise errors.invalid("advance must be a non-negative integer of seconds.",
                                 "advance")
        state.clock_offset += advance
        settlement.tick(state)
    return {"now": state.now(), "offset": state.clock_offset}


@control("/checkout/sessions/<session_id>/pay")
def pay(body: dict[str, Any], session_id: str) -> dict[str, Any]:
    """Pay without a browser: ``{"method": "card", "number": "4242..."}``, ``{"method":
    "us_bank_account", "account_number": "000123456789"}`` or ``{"method":
    "customer_balance"}``; optional name, email, exp_month, exp_year, cvc, verification."""
    state = store()
    session = state.get("checkout.session", session_id, "session")
    form = {key: value for key, value in body.items() if key != "method"}
    form.setdefault("routing_number", "110000000")
    outcome = paying.pay(state, session, str(body.get("method", "")), form, base_url())
    return {"status": outcome.status, "session": session, "payment_intent": outcome.intent,
            "error": outcome.error, "redirect": outcome.redirect, **outcome.extra}


def _intent(intent_id: str) -> dict[str, Any]:
    return store().get("payment_intent", intent_id, "intent")


@control("/payment_intents/<intent_id>/authenticate")
def authenticate(body: dict[str, Any], intent_id: str) -> dict[str, Any]:
    """Answer the 3-D Secure challenge: ``{"result": "complete" | "fail"}``."""
    session_id = store().facts(intent_id).get("session", "")
    session = store().get("checkout.session", session_id, "session")
    outcome = paying.authenticate(store(), session, body.get("result") == "complete")
    return {"status": outcome.status, "payment_intent": _intent(intent_id),
            "error": outcome.error, "redirect": outcome.redirect}


@control("/payment_intents/<intent_id>/settle")
def settle(body: dict[str, Any], intent_id: str) -> dict[str, Any]:
    """The processing ACH debit clears."""
    return settlement.settle(store(), _intent(intent_id))


@control("/payment_intents/<intent_id>/fail")
def fail(body: dict[str, Any], intent_id: str) -> dict[str, Any]:
    """The processing ACH debit is returned: ``{"return_code": "R01"}`` (default R01)."""
    return settlement.fail_debit(store(), _intent(intent_id), body.get("return_code", "R01"))


@control("/payment_intents/<intent_id>/advance")
def advance(body: dict[str, Any], intent_id: str) -> dict[str, Any]:
    """Resolve the ACH debit as its test account number says."""
    return settlement.advance(store(), _intent(intent_id))


@control("/customers/<customer_id>/fund")
def fund(body: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """A bank transfer arrives: ``{"amount": 1000, "currency": "usd", "reference": ...}``."""
    amount, currency = body.get("amount"), body.get("currency", "usd")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise errors.invalid("amount must be a positive integer in minor units.", "amount")
    if currency not in CURRENCIES:
        raise errors.invalid(f"Invalid currency: {currency}", "currency")
    customer = store().get("customer", customer_id, "customer")
    return settlement.fund(store(), customer, amount, currency, body.get("reference"))


@control("/charges/<charge_id>/dispute")
def dispute(body: dict[str, Any], charge_id: str) -> dict[str, Any]:
    """Open a dispute: ``{"reason": "fraudulent", "amount": optional}``."""
    charge = store().get("charge", charge_id, "charge")
    return disputes.open_dispute(store(), charge, body.get("reason", "fraudulent"),
                                 body.get("amount"))


@control("/disputes/<dispute_id>/<result>")
def close_dispute(body: dict[str, Any], dispute_id: str, result: str) -> dict[str, Any]:
    """``win`` or ``lose`` an open dispute."""
    found = store().get("dispute", dispute_id, "dispute")
    if result not in ("win", "lose"):
        raise errors.invalid("Use /win or /lose.")
    return disputes.win(store(), found) if result == "win" else disputes.lose(store(), found)


@control("/refunds/<refund_id>/<result>")
def refund_result(body: dict[str, Any], refund_id: str, result: str) -> dict[str, Any]:
    """``succeed`` a pending refund, or ``fail`` one: ``{"failure_reason": ...}``."""
    found = store().get("refund", refund_id, "refund")
    if result not in ("succeed", "fail"):
        raise errors.invalid("Use /succeed or /fail.")
    if result == "succeed":
        return refunds.succeed(store(), found)
    return refunds.fail(store(), found, body.get("failure_reason"))


@control("/webhook_endpoints")
def register_endpoint(body: dict[str, Any]) -> dict[str, Any]:
    """Register an endpoint with a chosen secret: ``{"url", "secret"?, "enabled_events"?}``."""
    secret = body.get("secret")
    if secret is not None and not (isinstance(secret, str) and secret.startswith("whsec_")):
        raise errors.invalid("secret must start with whsec_.", "secret")
    events = body.get("enabled_events", ["*"])
    if not isinstance(events, list) or not all(isinstance(name, str) for name in events):
        raise errors.invalid("enabled_events must be a list of event types.", "enabled_events")
    params = {"url": body.get("url"), "enabled_events": events}
    return endpoints.create(store(), params, secret)

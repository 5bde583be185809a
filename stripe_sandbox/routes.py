"""The ``/v1`` endpoints the portal uses, with the same paths and parameters as Stripe."""

from __future__ import annotations

from typing import Any

from stripe_sandbox import checkout, disputes, endpoints, errors, events, refunds, settlement
from stripe_sandbox import params as p
from stripe_sandbox.api import base_url, endpoint
from stripe_sandbox.events import apply, emit
from stripe_sandbox.objects import make, merge_metadata, new_id, random_code
from stripe_sandbox.store import Store, matches

ADDRESS = {key: p.string() for key in ("line1", "line2", "city", "state", "postal_code",
                                       "country")}
CUSTOMER = {"name": p.string(256), "email": p.string(512), "description": p.string(),
            "phone": p.string(20), "metadata": p.metadata, "address": ADDRESS,
            "preferred_locales": [p.string()], "expand": [p.string()]}
ONE = p.EXPAND


def _list(state: Store, kind: str, params: dict[str, Any], url: str,
          **filters: Any) -> dict[str, Any]:
    created = params.get("created")
    items = state.newest_first(kind, lambda obj: matches(obj, filters.items()) and (
        created is None or p.in_range(obj["created"], created)))
    return state.paginate(items, params, url)


# Customers

@endpoint("/customers", "POST", CUSTOMER)
def create_customer(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/customers``."""
    _check_email(params)
    customer = make("customer", id=new_id("cus", 14), created=state.now(),
                    invoice_prefix=random_code(8), **_customer_fields(params))
    state.add(customer)
    emit(state, "customer.created", customer)
    return customer


def _check_email(params: dict[str, Any]) -> None:
    if params.get("email") and "@" not in params["email"]:
        raise errors.invalid(f"Invalid email address: {params['email']}", "email",
                             "email_invalid")


def _customer_fields(params: dict[str, Any]) -> dict[str, Any]:
    fields = {key: params[key] for key in ("name", "email", "description", "phone",
                                           "preferred_locales", "metadata") if key in params}
    if "address" in params:
        fields["address"] = dict(dict.fromkeys(ADDRESS), **params["address"])
    return fields


@endpoint("/customers/<customer_id>", "GET", ONE)
def retrieve_customer(state: Store, params: dict[str, Any], customer_id: str) -> dict:
    """``GET /v1/customers/{id}``."""
    return state.get("customer", customer_id)


@endpoint("/customers/<customer_id>", "POST", CUSTOMER)
def update_customer(state: Store, params: dict[str, Any], customer_id: str) -> dict:
    """``POST /v1/customers/{id}``: ``customer.updated`` with ``previous_attributes``."""
    customer = state.get("customer", customer_id)
    _check_email(params)
    fields = _customer_fields(params)
    if "metadata" in fields:
        fields["metadata"] = merge_metadata(customer["metadata"], fields["metadata"])
    previous = apply(customer, **fields)
    if previous:
        emit(state, "customer.updated", customer, previous)
    return customer


@endpoint("/customers", "GET", dict(p.LIST, email=p.string(512)))
def list_customers(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/customers`` (filter by ``email``)."""
    return _list(state, "customer", params, "/v1/customers", email=params.get("email"))


@endpoint("/test_helpers/customers/<customer_id>/fund_cash_balance", "POST",
          {"amount": p.integer(1), "currency": p.currency, "reference": p.string(),
           "expand": [p.string()]})
def fund_cash_balance(state: Store, params: dict[str, Any], customer_id: str) -> dict:
    """Stripe's test helper: a bank transfer from the customer arrives."""
    p.require(params, "amount", "currency")
    customer = state.get("customer", customer_id)
    return settlement.fund(state, customer, params["amount"], params["currency"],
                           params.get("reference"))


# Checkout Sessions

@endpoint("/checkout/sessions", "POST", checkout.CREATE)
def create_session(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/checkout/sessions``."""
    return checkout.create(state, params, base_url())


@endpoint("/checkout/sessions/<session_id>", "GET", ONE)
def retrieve_session(state: Store, params: dict[str, Any], session_id: str) -> dict:
    """``GET /v1/checkout/sessions/{id}``."""
    return state.get("checkout.session", session_id, "session")


@endpoint("/checkout/sessions", "GET", checkout.LIST)
def list_sessions(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/checkout/sessions`` (filter by payment_intent, customer, status)."""
    return _list(state, "checkout.session", params, "/v1/checkout/sessions",
                 payment_intent=params.get("payment_intent"),
                 customer=params.get("customer"), status=params.get("status"))


@endpoint("/checkout/sessions/<session_id>/expire", "POST", ONE)
def expire_session(state: Store, params: dict[str, Any], session_id: str) -> dict:
    """``POST /v1/checkout/sessions/{id}/expire`` (open sessions only)."""
    return checkout.expire(state, state.get("checkout.session", session_id, "session"))


@endpoint("/checkout/sessions/<session_id>/line_items", "GET",
          {key: p.LIST[key] for key in ("limit", "starting_after", "ending_before", "expand")})
def session_line_items(state: Store, params: dict[str, Any], session_id: str) -> dict:
    """``GET /v1/checkout/sessions/{id}/line_items``."""
    session = state.get("checkout.session", session_id, "session")
    return checkout.line_items(state, session, params)


# PaymentIntents, PaymentMethods, Charges

@endpoint("/payment_intents/<intent_id>", "GET", ONE)
def retrieve_intent(state: Store, params: dict[str, Any], intent_id: str) -> dict:
    """``GET /v1/payment_intents/{id}``."""
    return state.get("payment_intent", intent_id, "intent")


@endpoint("/payment_intents", "GET", dict(p.LIST, customer=p.string()))
def list_intents(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/payment_intents`` (filter by customer)."""
    return _list(state, "payment_intent", params, "/v1/payment_intents",
                 customer=params.get("customer"))


@endpoint("/payment_intents/<intent_id>/verify_microdeposits", "POST",
          {"amounts": [p.integer(0)], "descriptor_code": p.string(), "expand": [p.string()]})
def verify_microdeposits(state: Store, params: dict[str, Any], intent_id: str) -> dict:
    """``POST /v1/payment_intents/{id}/verify_microdeposits`` (32 and 45, or SM11AA)."""
    intent = state.get("payment_intent", intent_id, "intent")
    return settlement.verify_microdeposits(state, intent, params.get("amounts"),
                                           params.get("descriptor_code"))


@endpoint("/payment_methods/<method_id>", "GET", ONE)
def retrieve_method(state: Store, params: dict[str, Any], method_id: str) -> dict:
    """``GET /v1/payment_methods/{id}``."""
    return state.get("payment_method", method_id, "payment_method")


@endpoint("/charges/<charge_id>", "GET", ONE)
def retrieve_charge(state: Store, params: dict[str, Any], charge_id: str) -> dict:
    """``GET /v1/charges/{id}``."""
    return state.get("charge", charge_id, "charge")


@endpoint("/charges", "GET", dict(p.LIST, customer=p.string(), payment_intent=p.string()))
def list_charges(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/charges`` (filter by customer, payment_intent)."""
    return _list(state, "charge", params, "/v1/charges", customer=params.get("customer"),
                 payment_intent=params.get("payment_intent"))


# Refunds and disputes

@endpoint("/refunds", "POST", refunds.CREATE)
def create_refund(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/refunds``."""
    return refunds.create(state, params)


@endpoint("/refunds/<refund_id>", "GET", ONE)
def retrieve_refund(state: Store, params: dict[str, Any], refund_id: str) -> dict:
    """``GET /v1/refunds/{id}``."""
    return state.get("refund", refund_id, "refund")


@endpoint("/refunds", "GET", refunds.LIST)
def list_refunds(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/refunds`` (filter by charge, payment_intent)."""
    return _list(state, "refund", params, "/v1/refunds", charge=params.get("charge"),
                 payment_intent=params.get("payment_intent"))


@endpoint("/disputes/<dispute_id>", "GET", ONE)
def retrieve_dispute(state: Store, params: dict[str, Any], dispute_id: str) -> dict:
    """``GET /v1/disputes/{id}``."""
    return state.get("dispute", dispute_id, "dispute")


@endpoint("/disputes", "GET", dict(p.LIST, charge=p.string(), payment_intent=p.string()))
def list_disputes(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/disputes`` (filter by charge, payment_intent)."""
    return _list(state, "dispute", params, "/v1/disputes", charge=params.get("charge"),
                 payment_intent=params.get("payment_intent"))


@endpoint("/disputes/<dispute_id>/close", "POST", ONE)
def close_dispute(state: Store, params: dict[str, Any], dispute_id: str) -> dict:
    """``POST /v1/disputes/{id}/close``: accept the dispute (it is lost)."""
    return disputes.lose(state, state.get("dispute", dispute_id, "dispute"))


# Events

@endpoint("/events", "GET", dict(p.LIST, type=p.string(), types=[p.string()],
                                 delivery_success=p.boolean))
def list_events(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/events``: newest first, last 30 days, ``type``/``types[]``/``created``."""
    return state.paginate(events.select(state, params), params, "/v1/events")


@endpoint("/events/<event_id>", "GET", ONE)
def retrieve_event(state: Store, params: dict[str, Any], event_id: str) -> dict:
    """``GET /v1/events/{id}``."""
    return events.retrieve(state, event_id)


# Webhook endpoints

@endpoint("/webhook_endpoints", "POST", endpoints.CREATE)
def create_webhook_endpoint(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/webhook_endpoints``: the response carries the signing secret."""
    return endpoints.create(state, params)


@endpoint("/webhook_endpoints", "GET", dict(p.LIST))
def list_webhook_endpoints(state: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/webhook_endpoints``."""
    return _list(state, "webhook_endpoint", params, "/v1/webhook_endpoints")


@endpoint("/webhook_endpoints/<endpoint_id>", "GET", ONE)
def retrieve_webhook_endpoint(state: Store, params: dict[str, Any], endpoint_id: str) -> dict:
    """``GET /v1/webhook_endpoints/{id}``."""
    return state.get("webhook_endpoint", endpoint_id, "webhook_endpoint")


@endpoint("/webhook_endpoints/<endpoint_id>", "POST", endpoints.UPDATE)
def update_webhook_endpoint(state: Store, params: dict[str, Any], endpoint_id: str) -> dict:
    """``POST /v1/webhook_endpoints/{id}``."""
    found = state.get("webhook_endpoint", endpoint_id, "webhook_endpoint")
    return endpoints.update(state, found, params)


@endpoint("/webhook_endpoints/<endpoint_id>", "DELETE", ONE)
def delete_webhook_endpoint(state: Store, params: dict[str, Any], endpoint_id: str) -> dict:
    """``DELETE /v1/webhook_endpoints/{id}``."""
    found = state.get("webhook_endpoint", endpoint_id, "webhook_endpoint")
    return endpoints.delete(state, found)

"""Checkout Sessions: create (validated like Stripe, for ``mode=payment`` with ``price_data``),
expire, list their line items, and the completion steps the payment flows call."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from stripe_sandbox import errors
from stripe_sandbox import params as p
from stripe_sandbox.events import apply, emit
from stripe_sandbox.money import MINIMUM_CHARGE, display
from stripe_sandbox.objects import list_object, make, new_id, session_id
from stripe_sandbox.store import Store

PRICE_DATA = {"currency": p.currency, "unit_amount": p.integer(0),
              "unit_amount_decimal": p.string(),
              "product_data": {"name": p.string(), "description": p.string(),
                               "metadata": p.metadata}}
METHOD_OPTIONS = {
    "card": {"request_three_d_secure": p.enum("automatic", "any", "challenge")},
    "us_bank_account": {
        "verification_method": p.enum("automatic", "instant", "microdeposits"),
        "financial_connections": {"permissions": [p.string()], "prefetch": [p.string()]}},
    "customer_balance": {
        "funding_type": p.enum("bank_transfer"),
        "bank_transfer": {"type": p.enum("us_bank_transfer", "eu_bank_transfer",
                                         "gb_bank_transfer", "jp_bank_transfer",
                                         "mx_bank_transfer"),
                          "eu_bank_transfer": {"country": p.string()}}},
}
CREATE = {
    "mode": p.enum("payment", "setup", "subscription"),
    "line_items": [{"price_data": PRICE_DATA, "quantity": p.integer(1), "price": p.string()}],
    "customer": p.string(), "customer_email": p.string(), "client_reference_id": p.string(200),
    "metadata": p.metadata, "success_url": p.string(), "cancel_url": p.string(),
    "payment_intent_data": {"metadata": p.metadata, "description": p.string(1000),
                            "receipt_email": p.string(),
                            "statement_descriptor_suffix": p.string(22)},
    "payment_method_types": [p.enum("card", "us_bank_account", "customer_balance")],
    "payment_method_options": METHOD_OPTIONS, "expires_at": p.integer(0),
    "locale": p.string(), "submit_type": p.enum("auto", "book", "donate", "pay"),
    "expand": [p.string()],
}
LIST = dict(p.LIST, payment_intent=p.string(), customer=p.string(),
            status=p.enum("open", "complete", "expired"))


def create(store: Store, params: dict[str, Any], base_url: str) -> dict[str, Any]:
    """``POST /v1/checkout/sessions``."""
    p.require(params, "mode")
    if params["mode"] != "payment":
        raise errors.invalid("The sandbox emulates mode=payment only.", "mode")
    p.require(params, "line_items", "success_url")
    for name in ("success_url", "cancel_url"):
        _check_url(params.get(name), name)
    if params.get("customer") and params.get("customer_email"):
        raise errors.invalid("You may only specify one of these parameters: customer, "
                             "customer_email.", "customer_email")
    if params.get("customer"):
        store.get("customer", params["customer"], "customer", status=400)
    items, currency, total = _line_items(store, params["line_items"])
    methods = params.get("payment_method_types") or ["card"]
    options = _method_options(params, methods, currency)
    now = store.now()
    expires_at = _expires_at(params.get("expires_at"), now)
    new = session_id()
    session = make(
        "checkout.session", id=new, created=now, expires_at=expires_at, mode="payment",
        amount_subtotal=total, amount_total=total, currency=currency,
        customer=params.get("customer"), customer_email=params.get("customer_email"),
        customer_creation=None if params.get("customer") else "if_required",
        client_reference_id=params.get("client_reference_id"),
        metadata=params.get("metadata", {}), success_url=params["success_url"],
        cancel_url=params.get("cancel_url"), payment_method_types=methods,
        payment_method_options=options, locale=params.get("locale"),
        submit_type=params.get("submit_type"), status="open", payment_status="unpaid",
        url=f"{base_url.rstrip('/')}/checkout/{new}")
    facts = store.facts(new)
    facts.update(line_items=items, payment_intent_data=params.get("payment_intent_data", {}))
    return store.add(session)


def _check_url(url: str | None, param: str) -> None:
    if url is not None and urlparse(url).scheme not in ("http", "https"):
        raise errors.invalid("Not a valid URL", param, "url_invalid")


def _line_items(store: Store, lines: list[dict[str, Any]]) -> tuple[list, str, int]:
    items = []
    for index, line in enumerate(lines):
        param = f"line_items[{index}]"
        if "price" in line:
            raise errors.invalid("The sandbox emulates price_data only, not Price objects.",
                                 f"{param}[price]")
        p.require(line, "price_data", "quantity")
        data = line["price_data"]
        for name in ("currency", "unit_amount", "product_data"):
            if name not in data:
                raise errors.missing_param(f"{param}[price_data][{name}]")
        if not data["product_data"].get("name"):
            raise errors.missing_param(f"{param}[price_data][product_data][name]")
        items.append(_item(store, data, line["quantity"]))
    currencies = {item["currency"] for item in items}
    if len(currencies) > 1:
        raise errors.invalid("All line items must use the same currency.", "line_items")
    currency = currencies.pop()
    total = sum(item["amount_total"] for item in items)
    minimum = MINIMUM_CHARGE.get(currency, 1)
    if total < minimum:
        raise errors.invalid(f"The Checkout Session's total amount due must add up to at "
                             f"least {display(minimum, currency)}", "line_items",
                             "amount_too_small")
    if total > 99999999:
        raise errors.invalid("The Checkout Session's total amount due must be no more "
                             "than 99999999 in minor units", "line_items", "amount_too_large")
    return items, currency, total


def _item(store: Store, data: dict[str, Any], quantity: int) -> dict[str, Any]:
    amount = data["unit_amount"] * quantity
    price = make("item")["price"]
    price.update(id=new_id("price"), product=new_id("prod", 14), created=store.now(),
                 currency=data["currency"], unit_amount=data["unit_amount"],
                 unit_amount_decimal=str(data["unit_amount"]), recurring=None,
                 transform_quantity=None, custom_unit_amount=None, type="one_time",
                 active=False)
    return make("item", id=new_id("li"), currency=data["currency"],
                description=data["product_data"]["name"], quantity=quantity, price=price,
                amount_subtotal=amount, amount_total=amount, amount_discount=0, amount_tax=0)


def _method_options(params: dict[str, Any], methods: list[str],
                    currency: str) -> dict[str, Any]:
    given = params.get("payment_method_options", {})
    options: dict[str, Any] = {}
    if "card" in methods:
        options["card"] = {"request_three_d_secure": given.get("card", {}).get(
            "request_three_d_secure", "automatic")}
    if "us_bank_account" in methods:
        if currency != "usd":
            raise errors.invalid(f"The currency provided ({currency}) is invalid. Payments "
                                 "with us_bank_account support the following currencies: usd.",
                                 "payment_method_types")
        bank = given.get("us_bank_account", {})
        options["us_bank_account"] = {
            "verification_method": bank.get("verification_method", "automatic"),
            "financial_connections": {"permissions": ["payment_method"], "prefetch": []}}
    if "customer_balance" in methods:
        options["customer_balance"] = _bank_transfer_options(params, given, currency)
    return options


def _bank_transfer_options(params: dict[str, Any], given: dict[str, Any],
                           currency: str) -> dict[str, Any]:
    if not params.get("customer"):
        raise errors.invalid("The customer_balance payment method requires a customer.",
                             "customer")
    option = given.get("customer_balance", {})
    name = "payment_method_options[customer_balance]"
    if "funding_type" not in option:
        raise errors.missing_param(f"{name}[funding_type]")
    transfer_type = option.get("bank_transfer", {}).get("type")
    if transfer_type is None:
        raise errors.missing_param(f"{name}[bank_transfer][type]")
    if transfer_type != "us_bank_transfer" or currency != "usd":
        raise errors.invalid("The sandbox emulates us_bank_transfer in usd only.",
                             f"{name}[bank_transfer][type]")
    return {"funding_type": "bank_transfer", "setup_future_usage": None,
            "bank_transfer": {"type": transfer_type}}


def _expires_at(requested: int | None, now: int) -> int:
    if requested is None:
        return now + 24 * 60 * 60
    if requested < now + 30 * 60:
        raise errors.invalid("The `expires_at` timestamp must be at least 30 minutes from "
                             "Checkout Session creation.", "expires_at")
    if requested > now + 24 * 60 * 60:
        raise errors.invalid("The `expires_at` timestamp must be less than 24 hours from "
                             "Checkout Session creation.", "expires_at")
    return requested


def line_items(store: Store, session: dict[str, Any], params: dict[str, Any]) -> dict:
    """``GET /v1/checkout/sessions/{id}/line_items`` (in the order they were given)."""
    items = store.facts(session["id"])["line_items"]
    ids = [item["id"] for item in items]
    limit = params.get("limit", 10)
    url = f"/v1/checkout/sessions/{session['id']}/line_items"
    for name in ("starting_after", "ending_before"):
        if params.get(name) and params[name] not in ids:
            raise errors.no_such("line_item", params[name], name, status=400)
    if params.get("ending_before"):
        end = ids.index(params["ending_before"])
        return list_object(items[max(0, end - limit):end], url, end > limit)
    start = ids.index(params["starting_after"]) + 1 if params.get("starting_after") else 0
    return list_object(items[start:start + limit], url, len(items) > start + limit)


def expire(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/checkout/sessions/{id}/expire``, and expiry when ``expires_at`` passes."""
    if session["status"] != "open":
        raise errors.invalid("Only Checkout Sessions with a status in [\"open\"] can be "
                             f"expired. This session's status is {session['status']}.",
                             "session")
    intent_id = session["payment_intent"]
    if intent_id:
        intent = store.get("payment_intent", intent_id)
        if intent["status"] not in ("succeeded", "canceled"):
            apply(intent, status="canceled", canceled_at=store.now(),
                  cancellation_reason="abandoned", next_action=None)
            emit(store, "payment_intent.canceled", intent)
    apply(session, status="expired", url=None)
    emit(store, "checkout.session.expired", session)
    return session


def expire_due(store: Store) -> None:
    """Expire every open session whose ``expires_at`` has passed."""
    now = store.now()
    for session in store.newest_first("checkout.session"):
        if session["status"] == "open" and session["expires_at"] <= now:
            expire(store, session)


def complete(store: Store, session: dict[str, Any], intent: dict[str, Any],
             details: dict[str, Any]) -> None:
    """The payer finished Checkout: ``checkout.session.completed``."""
    paid = intent["status"] == "succeeded"
    apply(session, status="complete", payment_status="paid" if paid else "unpaid",
          payment_intent=intent["id"], customer_details=details, url=None)
    emit(store, "checkout.session.completed", session)


def async_result(store: Store, session_of: str | None, succeeded: bool) -> None:
    """A delayed payment ended: ``checkout.session.async_payment_(succeeded|failed)``."""
    if not session_of:
        return
    session = store.get("checkout.session", session_of)
    if session["status"] != "complete" or session["payment_status"] == "paid":
        return
    if succeeded:
        apply(session, payment_status="paid")
        emit(store, "checkout.session.async_payment_succeeded", session)
    else:
        emit(store, "checkout.session.async_payment_failed", session)


def customer_details(store: Store, session: dict[str, Any], name: str | None,
                     email: str | None) -> dict[str, Any]:
    """``customer_details`` as Checkout records them at completion."""
    customer = store.objects["customer"].get(session["customer"] or "")
    return {"address": None, "business_name": None, "individual_name": None,
            "email": email or session["customer_email"] or (customer or {}).get("email"),
            "name": name or (customer or {}).get("name"), "phone": None,
            "tax_exempt": "none", "tax_ids": []}


def line_items_object(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """The ``line_items`` list when a session is retrieved with ``expand[]=line_items``."""
    items = store.facts(session["id"])["line_items"]
    return list_object(items, f"/v1/checkout/sessions/{session['id']}/line_items")

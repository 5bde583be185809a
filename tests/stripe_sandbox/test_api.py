"""The REST surface: authentication, error objects, form encoding, validation,
Idempotency-Key semantics, expansion, lists."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import stripe

from tests.stripe_sandbox.conftest import Sandbox, session_params


def test_requires_a_test_secret_key(sandbox: Sandbox) -> None:
    missing = sandbox.raw("GET", "/v1/customers", key=None)
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in missing.json()["error"]["message"]
    for key in ("sk_live_123", "pk_test_123", "nonsense"):
        wrong = sandbox.raw("GET", "/v1/customers", key=key)
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "api_key_invalid"
        assert key not in wrong.json()["error"]["message"] or len(key) <= 12
    basic = base64.b64encode(b"sk_test_abc:").decode()
    ok = sandbox.raw("GET", "/v1/customers", key=None, headers={"Authorization": f"Basic {basic}"})
    assert ok.status_code == 200 and ok.json()["object"] == "list"
    bad = stripe.StripeClient("sk_live_x", base_addresses={"api": sandbox.url})
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()


def test_error_shapes(sandbox: Sandbox) -> None:
    missing = sandbox.raw("GET", "/v1/customers/cus_nope")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert set(error) >= {"type", "code", "message", "param"}
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error", "resource_missing", "id")
    assert error["message"] == "No such customer: 'cus_nope'"
    assert missing.headers["Request-Id"].startswith("req_")
    unknown = sandbox.raw("POST", "/v1/customers", data={"nmae": "typo"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "parameter_unknown"
    assert unknown.json()["error"]["param"] == "nmae"
    nested = sandbox.raw("POST", "/v1/checkout/sessions",
                         data={"payment_intent_data[metadta][a]": "1"})
    assert nested.json()["error"]["param"] == "payment_intent_data[metadta]"
    url = sandbox.raw("POST", "/v1/nothing")
    assert url.status_code == 404 and "Unrecognized request URL" in url.json()["error"]["message"]
    method = sandbox.raw("DELETE", "/v1/customers")
    assert method.status_code == 404
    with pytest.raises(stripe.InvalidRequestError) as sdk_error:
        sandbox.client.v1.payment_intents.retrieve("pi_nope")
    assert sdk_error.value.code == "resource_missing" and sdk_error.value.http_status == 404


@pytest.mark.parametrize(("change", "param", "code"), [
    ({"mode": None}, "mode", "parameter_missing"),
    ({"mode": "subscription"}, "mode", None),
    ({"line_items": None}, "line_items", "parameter_missing"),
    ({"success_url": None}, "success_url", "parameter_missing"),
    ({"success_url": "javascript:alert(1)"}, "success_url", "url_invalid"),
    ({"line_items": [{"price_data": {"currency": "usd", "unit_amount": 10,
                                     "product_data": {"name": "x"}}, "quantity": 1}]},
     "line_items", "amount_too_small"),
    ({"line_items": [{"price_data": {"currency": "usd", "unit_amount": -5,
                                     "product_data": {"name": "x"}}, "quantity": 1}]},
     "line_items[0][price_data][unit_amount]", "parameter_invalid_integer"),
    ({"line_items": [{"price_data": {"currency": "usd", "unit_amount": 500,
                                     "product_data": {"name": "x"}}, "quantity": 0}]},
     "line_items[0][quantity]", "parameter_invalid_integer"),
    ({"line_items": [{"price_data": {"currency": "xyz", "unit_amount": 500,
                                     "product_data": {"name": "x"}}, "quantity": 1}]},
     "line_items[0][price_data][currency]", None),
    ({"line_items": [{"price_data": {"currency": "usd", "unit_amount": 500,
                                     "product_data": {"description": "no name"}},
                      "quantity": 1}]},
     "line_items[0][price_data][product_data][name]", "parameter_missing"),
    ({"line_items": [{"price": "price_123", "quantity": 1}]}, "line_items[0][price]", None),
    ({"payment_method_types": ["paypal"]}, "payment_method_types[0]", None),
    ({"payment_method_types": ["customer_balance"]}, "customer", None),
    ({"customer": "cus_missing"}, "customer", "resource_missing"),
    ({"expires_at": 1}, "expires_at", None),
])
def test_session_validation(sandbox: Sandbox, change: dict[str, Any], param: str,
                            code: str | None) -> None:
    params = session_params()
    params.update(change)
    with pytest.raises(stripe.InvalidRequestError) as error:
        sandbox.client.v1.checkout.sessions.create(params=params)
    assert error.value.http_status == 400
    assert error.value.param == param
    assert error.value.code == code
    assert error.value.json_body["error"]["type"] == "invalid_request_error"


def test_mixed_currencies_and_ach_currency(sandbox: Sandbox) -> None:
    eur = {"price_data": {"currency": "eur", "unit_amount": 5000,
                          "product_data": {"name": "EUR"}}, "quantity": 1}
    with pytest.raises(stripe.InvalidRequestError, match="same currency"):
        sandbox.client.v1.checkout.sessions.create(
            params=session_params(line_items=session_params()["line_items"] + [eur]))
    with pytest.raises(stripe.InvalidRequestError, match="us_bank_account"):
        sandbox.client.v1.checkout.sessions.create(params=session_params(line_items=[eur]))


def test_zero_decimal_currency(sandbox: Sandbox) -> None:
    jpy = {"price_data": {"currency": "JPY", "unit_amount": 5000,
                          "product_data": {"name": "請求書"}}, "quantity": 2}
    session = sandbox.client.v1.checkout.sessions.create(params=session_params(
        line_items=[jpy], payment_method_types=["card"], payment_method_options={}))
    assert (session.currency, session.amount_total) == ("jpy", 10000)
    page = sandbox.http.get(session.url)
    assert "10,000 JPY" in page.text and "請求書" in page.text


def test_session_object_and_bracket_forms(sandbox: Sandbox, customer: Any) -> None:
    form = [("mode", "payment"), ("customer", customer.id),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "2500"),
            ("line_items[0][price_data][product_data][name]", "INV-9"),
            ("line_items[0][quantity]", "2"),
            ("payment_method_types[]", "card"), ("payment_method_types[]", "us_bank_account"),
            ("payment_method_options[us_bank_account][verification_method]", "instant"),
            ("metadata[attempt]", "pa_9"), ("success_url", "https://p.test/ok"),
            ("expand[]", "line_items")]
    response = sandbox.raw("POST", "/v1/checkout/sessions", data=form)
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["id"].startswith("cs_test_") and session["livemode"] is False
    assert session["payment_method_types"] == ["card", "us_bank_account"]
    assert session["payment_method_options"]["us_bank_account"]["verification_method"] == \
        "instant"
    assert session["metadata"] == {"attempt": "pa_9"}
    assert session["amount_total"] == 5000 and session["line_items"]["data"][0]["quantity"] == 2
    assert session["url"] == f"{sandbox.url}/checkout/{session['id']}"
    assert session["status"] == "open" and session["payment_intent"] is None


def test_idempotency(sandbox: Sandbox) -> None:
    params = {"name": "Once", "metadata[k]": "v"}
    headers = {"Idempotency-Key": "attempt-42-customer"}
    first = sandbox.raw("POST", "/v1/customers", data=params, headers=dict(headers))
    again = sandbox.raw("POST", "/v1/customers", data=params, headers=dict(headers))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Request-Id"] == first.headers["Request-Id"]
    assert len(sandbox.client.v1.customers.list().data) == 1
    conflict = sandbox.raw("POST", "/v1/customers", data={"name": "Twice"},
                           headers=dict(headers))
    assert conflict.status_code == 400
    assert conflict.json()["error"]["type"] == "idempotency_error"
    other_path = sandbox.raw("POST", "/v1/webhook_endpoints",
                             data={"url": "https://x.test", "enabled_events[]": "*"},
                             headers=dict(headers))
    assert other_path.json()["error"]["type"] == "idempotency_error"
    other_key = sandbox.raw("POST", "/v1/customers", data=params, key="sk_test_other",
                            headers=dict(headers))
    assert other_key.json()["id"] != first.json()["id"]


def test_idempotency_through_the_sdk(sandbox: Sandbox) -> None:
    options = {"idempotency_key": "pa_7:session"}
    first = sandbox.client.v1.checkout.sessions.create(params=session_params(), options=options)
    second = sandbox.client.v1.checkout.sessions.create(params=session_params(),
                                                        options=options)
    assert first.id == second.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        sandbox.client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="other"), options=options)


def test_validation_errors_are_not_saved_but_card_errors_would_be(sandbox: Sandbox) -> None:
    headers = {"Idempotency-Key": "k1"}
    bad = sandbox.raw("POST", "/v1/customers", data={"email": "no-at-sign"},
                      headers=dict(headers))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "email_invalid"
    good = sandbox.raw("POST", "/v1/customers", data={"email": "a@b.test"},
                       headers=dict(headers))
    assert good.status_code == 200


def test_customers(sandbox: Sandbox) -> None:
    created = sandbox.client.v1.customers.create(
        params={"name": "Acme", "email": "ap@acme.test", "metadata": {"erp": "C-1", "x": "y"},
                "address": {"country": "US"}})
    assert created.id.startswith("cus_") and created.address.country == "US"
    updated = sandbox.client.v1.customers.update(
        created.id, params={"name": "Acme Inc", "metadata": {"x": ""}})
    assert updated.name == "Acme Inc" and updated.metadata.to_dict() == {"erp": "C-1"}
    event = sandbox.client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert event.data.previous_attributes.name == "Acme"
    sandbox.client.v1.customers.create(params={"email": "other@x.test"})
    found = sandbox.client.v1.customers.list(params={"email": "ap@acme.test"})
    assert [c.id for c in found.data] == [created.id]
    assert sandbox.client.v1.customers.retrieve(created.id).email == "ap@acme.test"


def test_lists_filters_and_expansion(sandbox: Sandbox, new_session: Any, customer: Any) -> None:
    sessions = [new_session() for _ in range(3)]
    paid = sessions[1]
    result = sandbox.control(f"checkout/sessions/{paid.id}/pay",
                             {"method": "card", "number": "4242424242424242"})
    intent_id = result["payment_intent"]["id"]
    listed = sandbox.client.v1.checkout.sessions.list(params={"limit": 2})
    assert [s.id for s in listed.data] == [sessions[2].id, paid.id] and listed.has_more
    rest = sandbox.client.v1.checkout.sessions.list(
        params={"limit": 2, "starting_after": paid.id})
    assert [s.id for s in rest.data] == [sessions[0].id] and not rest.has_more
    by_intent = sandbox.client.v1.checkout.sessions.list(params={"payment_intent": intent_id})
    assert [s.id for s in by_intent.data] == [paid.id]
    assert len(sandbox.client.v1.checkout.sessions.list(params={"status": "open"}).data) == 2
    assert len(sandbox.client.v1.checkout.sessions.list(
        params={"customer": customer.id}).data) == 3
    expanded = sandbox.client.v1.checkout.sessions.list(
        params={"payment_intent": intent_id, "expand": ["data.payment_intent"]})
    assert expanded.data[0].payment_intent.id == intent_id
    intents = sandbox.client.v1.payment_intents.list(
        params={"customer": customer.id, "expand": ["data.latest_charge"]})
    assert intents.data[0].latest_charge.payment_intent == intent_id
    charges = sandbox.client.v1.charges.list(params={"payment_intent": intent_id})
    assert len(charges.data) == 1
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        sandbox.client.v1.checkout.sessions.retrieve(paid.id, params={"expand": ["url"]})
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client.v1.checkout.sessions.list(params={"limit": 101})


def test_line_items(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    items = sandbox.client.v1.checkout.sessions.line_items.list(session.id)
    assert [i.description for i in items.data] == ["Invoice INV-1", "Invoice INV-2"]
    assert [i.amount_total for i in items.data] == [12000, 3050]
    assert items.data[0].price.unit_amount == 12000 and items.data[0].object == "item"
    first = sandbox.client.v1.checkout.sessions.line_items.list(session.id,
                                                                params={"limit": 1})
    assert first.has_more and len(first.data) == 1
    second = sandbox.client.v1.checkout.sessions.line_items.list(
        session.id, params={"starting_after": first.data[0].id})
    assert [i.description for i in second.data] == ["Invoice INV-2"] and not second.has_more


def test_webhook_endpoints(sandbox: Sandbox) -> None:
    created = sandbox.client.v1.webhook_endpoints.create(
        params={"url": "https://portal.test/stripe/webhook",
                "enabled_events": ["checkout.session.completed", "charge.refunded"]})
    assert created.id.startswith("we_") and created.secret.startswith("whsec_")
    listed = sandbox.client.v1.webhook_endpoints.list()
    assert [e.id for e in listed.data] == [created.id]
    assert "secret" not in listed.data[0]
    disabled = sandbox.client.v1.webhook_endpoints.update(created.id, params={"disabled": True})
    assert disabled.status == "disabled"
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client.v1.webhook_endpoints.create(
            params={"url": "https://x.test", "enabled_events": ["no.such_event"]})
    deleted = sandbox.client.v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    assert sandbox.client.v1.webhook_endpoints.list().data == []


def test_concurrent_retries_with_one_key_create_one_object(sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def create(_: int) -> str:
        return sandbox.client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "double-click"}).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(create, range(16)))
    assert len(ids) == 1
    assert len(sandbox.client.v1.checkout.sessions.list().data) == 1

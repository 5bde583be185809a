"""``GET /api/v1/payments``: real payments with their allocations, filtered and paged like the
invoices list, every response matching the OpenAPI document."""

from __future__ import annotations

import pytest

from payments.confirmations import queue
from tests.conftest import Api
from tests.ledger_world import World
from tests.portal.api.test_openapi import assert_documented, response_schema, validator

CLERK = "clerk@acme.example"


@pytest.fixture
def doc(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def _payments(world: World) -> dict[str, int]:
    """A confirmed split payment, an unconfirmed one, ACH still clearing, an unmatched one."""
    a, b, c, d = (world.invoice(x, n) for x, n in (("A", 3000), ("B", 2000), ("C", 900),
                                                     ("D", 400)))
    ids = {"split": world.pay("pi_split", 5000, world.attempt([(a, 3000), (b, 2000)])),
           "plain": world.pay("pi_plain", 900, world.attempt([(c, 900)])),
           "ach": world.pay("pi_ach", 400, world.attempt([(d, 400)]), status="pending"),
           "stray": world.pay("pi_stray", 700)}
    world.pay("pi_split", 5000, refunds=(500,))
    world.run(queue.confirm, [ids["split"]], CLERK)
    return ids


def test_payments_are_listed_with_their_allocations(api: Api, world, doc):
    ids = _payments(world)
    response = api.get("/payments")
    assert response.status_code == 200
    assert_documented(doc, "/payments", "get", response)
    body = response.get_json()
    assert [p["id"] for p in body["data"]] == list(ids.values())
    assert (body["has_more"], body["next_cursor"]) == (False, None)
    split = body["data"][0]
    assert {k: split[k] for k in ("payment_intent_id", "charge_id", "status", "method",
                                  "currency", "amount", "amount_refunded", "amount_disputed",
                                  "confirmed_by")} == {
        "payment_intent_id": "pi_split", "charge_id": "ch_pi_split", "status": "succeeded",
        "method": "card", "currency": "USD", "amount": 5000, "amount_refunded": 500,
        "amount_disputed": 0, "confirmed_by": CLERK}
    assert split["confirmed_at"].endswith("Z") and split["created_at"].endswith("Z")
    assert [(x["external_id"], x["number"], x["amount"], x["net_amount"])
            for x in split["allocations"]] == [("A", "A", 3000, 3000), ("B", "B", 2000, 1500)]
    stray = body["data"][3]
    assert stray["allocations"] == [{"invoice_id": None, "external_id": None, "number": None,
                                     "amount": 700, "net_amount": 700}]
    assert stray["confirmed_at"] is None and stray["confirmed_by"] is None


@pytest.mark.parametrize("query, expected", [
    ("status=pending", ["ach"]),
    ("status=succeeded&confirmed=false", ["plain", "stray"]),
    ("confirmed=true", ["split"]),
    ("status=pending,succeeded&confirmed=false", ["plain", "ach", "stray"]),
    ("status=failed", []),
    ("confirmed=", ["split", "plain", "ach", "stray"]),
])
def test_payments_are_filtered_by_status_and_confirmation(api: Api, world, doc, query,
                                                          expected):
    ids = _payments(world)
    response = api.get(f"/payments?{query}")
    assert_documented(doc, "/payments", "get", response)
    assert [p["id"] for p in response.get_json()["data"]] == [ids[k] for k in expected]


def test_payments_page_by_cursor(api: Api, world, doc):
    ids = [world.pay(f"pi_{n}", 100 + n) for n in range(5)]
    seen, cursor = [], None
    while True:
        response = api.get("/payments?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert_documented(doc, "/payments", "get", response)
        body = response.get_json()
        seen += [p["id"] for p in body["data"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert seen == ids


@pytest.mark.parametrize("query, field", [
    ("status=paid", "status"),
    ("confirmed=yes", "confirmed"),
    ("cursor=bm9wZQ", "cursor"),
    ("cursor=" + "djE6OTk5OTk5OTk5OTk5", "cursor"),  # v1:999999999999, past any id
    ("limit=0", "limit"),
    ("limit=101", "limit"),
    ("limit=²", "limit"),
])
def test_bad_query_parameters_are_422_with_a_message_per_field(api: Api, doc, query, field):
    response = api.get(f"/payments?{query}")
    assert response.status_code == 422
    assert_documented(doc, "/payments", "get", response)
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {field}


def test_payments_need_an_api_key(client, doc):
    response = client.get("/api/v1/payments")
    assert response.status_code == 401
    assert_documented(doc, "/payments", "get", response)
    bad = client.get("/api/v1/payments", headers={"Authorization": "Bearer arp_nope"})
    assert bad.status_code == 401


def test_the_payment_schema_is_not_vacuous(api: Api, world, doc):
    _payments(world)
    body = api.get("/payments").get_json()
    check = validator(doc, response_schema(doc, "/payments", "get", 200))
    assert check.is_valid(body)
    payment = body["data"][0]
    for broken in ({**payment, "status": "paid"}, {**payment, "surprise": 1},
                   {k: v for k, v in payment.items() if k != "allocations"},
                   {**payment, "allocations": [{"invoice_id": 1}]},
                   {**payment, "amount": "50.00"}):
        assert not check.is_valid({**body, "data": [broken]})

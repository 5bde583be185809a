"""Every object the sandbox returns has every top-level key of Stripe's fixture object for
its resource (``../shared/stripe/fixtures3.json``, from Stripe's OpenAPI repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stripe_sandbox.objects import FIXTURE_FILE
from tests.stripe_sandbox.conftest import Sandbox

SHARED = Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"
BUNDLED = json.loads(FIXTURE_FILE.read_text())["resources"]
RESOURCES = (json.loads(SHARED.read_text())["resources"] if SHARED.exists() else BUNDLED)
KIND = {"webhook_endpoint_deleted": "deleted_webhook_endpoint"}


@pytest.mark.skipif(not SHARED.exists(), reason="shared fixtures not checked out")
def test_bundled_fixtures_are_the_shared_ones() -> None:
    for name, example in BUNDLED.items():
        assert example == RESOURCES[name], name


def collect(sandbox: Sandbox, new_session: Any, customer: Any) -> list[tuple[str, dict]]:
    """Run every flow once; return ``(resource, object)`` for everything the API returned."""
    client, found = sandbox.client, []
    endpoint = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/x",
                                                          "enabled_events": ["*"]})
    found.append(("webhook_endpoint", endpoint.to_dict()))
    card = new_session(bank_transfer=True)
    sandbox.control(f"checkout/sessions/{card.id}/pay", {"method": "card",
                                                         "number": "4000000000000259"})
    ach = new_session()
    sandbox.control(f"checkout/sessions/{ach.id}/pay",
                    {"method": "us_bank_account", "account_number": "000123456789"})
    transfer = new_session(bank_transfer=True)
    sandbox.control(f"checkout/sessions/{transfer.id}/pay", {"method": "customer_balance"})
    sandbox.control(f"customers/{customer.id}/fund", {"amount": 20000})
    declined = new_session()
    sandbox.control(f"checkout/sessions/{declined.id}/pay",
                    {"method": "card", "number": "4000000000000002"})
    sandbox.client.v1.checkout.sessions.expire(declined.id)
    intent = client.v1.checkout.sessions.retrieve(transfer.id).payment_intent
    found.append(("refund", client.v1.refunds.create(params={"payment_intent": intent,
                                                             "amount": 100}).to_dict()))
    found.append(("deleted_webhook_endpoint",
                  client.v1.webhook_endpoints.delete(endpoint.id).to_dict()))
    listed = {
        "customer": client.v1.customers.list(),
        "checkout.session": client.v1.checkout.sessions.list(),
        "item": client.v1.checkout.sessions.line_items.list(card.id),
        "payment_intent": client.v1.payment_intents.list(),
        "charge": client.v1.charges.list(),
        "refund": client.v1.refunds.list(),
        "dispute": client.v1.disputes.list(),
        "event": client.v1.events.list(params={"limit": 100}),
    }
    for resource, page in listed.items():
        found += [(resource, obj.to_dict()) for obj in page.data]
    for event in listed["event"].data:
        snapshot = event.data.object.to_dict()
        found.append((snapshot["object"], snapshot))
    for charge in listed["charge"].data:
        found.append(("payment_method", client.v1.payment_methods.retrieve(
            charge.payment_method).to_dict()))
    for dispute in listed["dispute"].data:
        found += [("balance_transaction", t.to_dict()) for t in dispute.balance_transactions]
    return found


def test_every_object_has_the_fixture_keys(sandbox: Sandbox, new_session: Any,
                                           customer: Any) -> None:
    objects = collect(sandbox, new_session, customer)
    kinds = {resource for resource, _ in objects}
    assert kinds >= {"customer", "checkout.session", "item", "payment_intent", "charge",
                     "refund", "dispute", "event", "webhook_endpoint",
                     "deleted_webhook_endpoint", "payment_method", "cash_balance",
                     "customer_cash_balance_transaction", "balance_transaction"}
    for resource, obj in objects:
        missing = set(RESOURCES[resource]) - set(obj)
        assert not missing, f"{resource} {obj.get('id')} lacks {sorted(missing)}"
        if "livemode" in obj:
            assert obj["livemode"] is False


def test_id_prefixes(sandbox: Sandbox, new_session: Any, customer: Any) -> None:
    prefixes = {"customer": "cus_", "checkout.session": "cs_test_", "payment_intent": "pi_",
                "refund": "re_", "dispute": "du_", "event": "evt_",
                "webhook_endpoint": "we_", "payment_method": "pm_", "item": "li_",
                "customer_cash_balance_transaction": "ccsbtxn_"}
    for resource, obj in collect(sandbox, new_session, customer):
        if resource in prefixes:
            assert obj["id"].startswith(prefixes[resource]), (resource, obj["id"])
        if resource == "charge":
            card = obj["payment_method_details"]["type"] == "card"
            assert obj["id"].startswith("ch_" if card else "py_")

"""The Stripe boundary speaks the core's language: plain dicts in and out, and only the core's
own errors (StripeRefused with Stripe's message, StripeUnavailable when there is no answer),
never the SDK's, so nothing outside the gateway needs to import ``stripe``."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import stripe

from payments.stripe.errors import StripeRefused, StripeUnavailable
from payments.stripe.gateway import StripeGateway
from tests.stripe_sandbox.conftest import Sandbox, serve


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    yield from serve({})


@pytest.fixture
def unreachable() -> StripeGateway:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return StripeGateway("sk_test_123", f"http://127.0.0.1:{port}", max_network_retries=0)


def test_a_request_stripe_refuses_raises_stripe_refused_with_its_message(sandbox):
    gateway = StripeGateway("sk_test_123", sandbox.url, max_network_retries=0)
    with pytest.raises(StripeRefused, match="No such checkout.session") as refused:
        gateway.checkout_session("cs_test_missing")
    assert not isinstance(refused.value, stripe.StripeError)
    assert isinstance(refused.value.__cause__, stripe.InvalidRequestError)


def test_an_unknown_key_is_refused_too(sandbox):
    gateway = StripeGateway("sk_live_wrong", sandbox.url, max_network_retries=0)
    with pytest.raises(StripeRefused):
        gateway.create_customer({"name": "Acme"}, idempotency_key="c-1")


def test_no_answer_raises_stripe_unavailable(unreachable):
    with pytest.raises(StripeUnavailable) as unavailable:
        unreachable.create_refund({"payment_intent": "pi_1", "amount": 100}, "refund-1")
    assert not isinstance(unavailable.value, stripe.StripeError)
    with pytest.raises(StripeUnavailable):
        unreachable.payment_facts("pi_1")


def test_errors_while_paging_events_are_translated(unreachable):
    with pytest.raises(StripeUnavailable):
        list(unreachable.events())


def test_answers_are_plain_dicts(sandbox):
    gateway = StripeGateway("sk_test_123", sandbox.url, max_network_retries=0)
    customer = gateway.create_customer({"name": "Acme"}, idempotency_key="c-2")
    assert type(customer) is dict and customer["object"] == "customer"
    again = gateway.create_customer({"name": "Acme"}, idempotency_key="c-2")
    assert again["id"] == customer["id"]  # the idempotency key reached Stripe
    assert all(type(event) is dict for event in gateway.events())

"""Fixtures: a sandbox served in-process on a free port (driven with the official stripe SDK
and plain HTTP), and a tiny local HTTP receiver that collects webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe
from werkzeug.serving import make_server

from stripe_sandbox import create_app

TEST_CONFIG = {"SANDBOX_RETRY_BASE": 0.05, "SANDBOX_MAX_ATTEMPTS": 4,
               "SANDBOX_WEBHOOK_TIMEOUT": 2.0, "SANDBOX_TICK": 0.02, "SANDBOX_SEED": 7}


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; return its value or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


@dataclass
class Sandbox:
    """A running sandbox: its URL, an SDK client and helpers for the control API."""

    url: str
    app: Any
    client: stripe.StripeClient
    http: requests.Session = field(default_factory=requests.Session)

    def control(self, path: str, body: dict[str, Any] | None = None,
                expect: int = 200) -> dict[str, Any]:
        """POST to ``/_sandbox/<path>`` and return the JSON answer."""
        response = self.http.post(f"{self.url}/_sandbox/{path}", json=body or {})
        assert response.status_code == expect, response.text
        return response.json()

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET ``/_sandbox/<path>`` as JSON."""
        response = self.http.get(f"{self.url}/_sandbox/{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def raw(self, method: str, path: str, key: str | None = "sk_test_123",
            **kwargs: Any) -> requests.Response:
        """A plain HTTP call to the API (for headers and error bodies)."""
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def event_types(self, **params: Any) -> list[str]:
        """Every event type, oldest first."""
        listed = self.client.v1.events.list(params={"limit": 100, **params})
        return [event.type for event in reversed(listed.data)]

    @property
    def store(self) -> Any:
        return self.app.extensions["stripe_sandbox"].store


def serve(config: dict[str, Any]) -> Iterator[Sandbox]:
    """Run a sandbox app on a free port for the duration of a test."""
    app = create_app(dict(TEST_CONFIG, **config))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    client = stripe.StripeClient("sk_test_123", base_addresses={"api": url},
                                 max_network_retries=0)
    try:
        yield Sandbox(url, app, client)
    finally:
        server.shutdown()
        server.server_close()
        app.extensions["stripe_sandbox"].stop()


@pytest.fixture
def sandbox_config() -> dict[str, Any]:
    """Extra config for the ``sandbox`` fixture (override in a test module)."""
    return {}


@pytest.fixture
def sandbox(sandbox_config: dict[str, Any]) -> Iterator[Sandbox]:
    """A fresh sandbox per test."""
    yield from serve(sandbox_config)


class Receiver:
    """Collects webhook deliveries; answers with queued status codes (then 200)."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.deliveries.append({
                        "body": body, "signature": self.headers["Stripe-Signature"],
                        "status": status, "at": time.monotonic(),
                        "event": json.loads(body)})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/stripe/webhook"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def events(self, ok_only: bool = True) -> list[dict[str, Any]]:
        """Event payloads received (by default only those answered 2xx)."""
        with self.lock:
            return [d["event"] for d in self.deliveries if not ok_only or d["status"] < 300]

    def types(self) -> list[str]:
        """Types of the events received and acknowledged, in arrival order."""
        return [event["type"] for event in self.events()]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver."""
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def hook(sandbox: Sandbox, receiver: Receiver) -> str:
    """Register ``receiver`` for all events through the API; returns the signing secret."""
    created = sandbox.client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["*"]})
    return created.secret


def session_params(**overrides: Any) -> dict[str, Any]:
    """Checkout Session params like the portal sends."""
    params = {
        "mode": "payment",
        "line_items": [
            {"price_data": {"currency": "usd", "unit_amount": 12000,
                            "product_data": {"name": "Invoice INV-1"}}, "quantity": 1},
            {"price_data": {"currency": "usd", "unit_amount": 3050,
                            "product_data": {"name": "Invoice INV-2"}}, "quantity": 1}],
        "client_reference_id": "attempt_1",
        "metadata": {"payment_attempt": "pa_1"},
        "payment_intent_data": {"metadata": {"payment_attempt": "pa_1"}},
        "success_url": "https://portal.test/i/tok/return?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://portal.test/i/tok",
        "payment_method_types": ["card", "us_bank_account"],
        "payment_method_options": {"us_bank_account": {"verification_method": "automatic"}},
    }
    params.update(overrides)
    return params


@pytest.fixture
def customer(sandbox: Sandbox) -> Any:
    """A customer, as the portal creates one per payer."""
    return sandbox.client.v1.customers.create(params={"name": "Acme Corp",
                                                      "email": "ap@acme.test"})


@pytest.fixture
def new_session(sandbox: Sandbox, customer: Any) -> Callable[..., Any]:
    """Create a Checkout Session (optionally with bank transfers enabled)."""
    def create(bank_transfer: bool = False, **overrides: Any) -> Any:
        params = session_params(customer=customer.id, **overrides)
        if bank_transfer:
            params["payment_method_types"] = ["card", "us_bank_account", "customer_balance"]
            params["payment_method_options"]["customer_balance"] = {
                "funding_type": "bank_transfer", "bank_transfer": {"type": "us_bank_transfer"}}
        return sandbox.client.v1.checkout.sessions.create(params=params)
    return create

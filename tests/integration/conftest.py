"""The whole product on real HTTP: the portal and the offline Stripe sandbox, each on its own
port, with the sandbox delivering signed webhooks to the portal."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from werkzeug.serving import make_server

from payments.staff import api_keys
from tests.factories import invoice_body
from tests.stripe_sandbox.conftest import Sandbox, serve, wait_for

WEBHOOK_SECRET = "whsec_integration_tests"
__all__ = ["Stack", "wait_for"]


@dataclass
class Stack:
    """A running portal wired to a running sandbox."""

    url: str
    app: Any
    sandbox: Sandbox
    api_key: str

    def create_invoice(self, **overrides) -> dict:
        """Push an invoice through the API; returns its JSON."""
        response = requests.post(f"{self.url}/api/v1/invoices", json=invoice_body(**overrides),
                                 headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def paid_by_card(self, customer: Browser) -> dict:
        """A new invoice that ``customer`` paid in full by card in Checkout; returns it as the
        API showed it before paying."""
        inv = self.create_invoice()
        checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
        self.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                             {"method": "card", "number": "4242424242424242"})
        return inv

    def invoice(self, invoice_id: int) -> dict:
        """The invoice as the API shows it now."""
        return requests.get(f"{self.url}/api/v1/invoices/{invoice_id}", timeout=10,
                            headers={"Authorization": f"Bearer {self.api_key}"}).json()

    def settled(self, invoice_id: int, **expected) -> dict:
        """Wait until the invoice shows ``expected`` (webhooks are asynchronous)."""
        def matches():
            inv = self.invoice(invoice_id)
            return inv if all(inv[k] == v for k, v in expected.items()) else None
        return wait_for(matches, timeout=10)


class Browser:
    """A customer's browser: keeps cookies, follows nothing by itself."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.last = ""

    def get(self, url: str, **kwargs) -> requests.Response:
        """GET ``url`` (relative to the last page, as a browser would resolve a Location)."""
        self.last = urljoin(self.last, url)
        return self.http.get(self.last, allow_redirects=False, timeout=10, **kwargs)

    def submit(self, page_url: str, action: str, **form) -> requests.Response:
        """Load ``page_url``, take its CSRF token, and POST ``form`` to ``action``."""
        page = self.get(page_url)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, f"no form on {page_url}"
        return self.http.post(action, data={"csrf_token": token.group(1), **form},
                              allow_redirects=False, timeout=10)

    def pay(self, pay_url: str, **form) -> requests.Response:
        """Press the pay button on an invoice page."""
        return self.submit(pay_url, pay_url + "/pay", **form)


def session_id(checkout_url: str) -> str:
    """The Checkout Session id at the end of a sandbox checkout URL."""
    return re.search(r"(cs_test_[A-Za-z0-9]+)", checkout_url).group(1)


@pytest.fixture
def stack(app_factory, stack_config) -> Iterator[Stack]:
    """Portal + sandbox, webhook endpoint registered with a known secret."""
    sandboxes = serve({})
    sandbox = next(sandboxes)
    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start),
                         threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = app_factory(PORTAL_BASE_URL=url, STRIPE_SECRET_KEY="sk_test_portal",
                                STRIPE_API_BASE=sandbox.url, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                                PORTAL_TOKEN_RATE_LIMIT="1000 per minute", **stack_config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox.control("webhook_endpoints", {"url": f"{url}/stripe/webhook",
                                          "secret": WEBHOOK_SECRET})
    with holder["app"].extensions["portal.db"].transaction() as session:
        _key, plaintext = api_keys.create(session, "integration")
    try:
        yield Stack(url, holder["app"], sandbox, plaintext)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        next(sandboxes, None)


@pytest.fixture
def customer() -> Browser:
    """A fresh customer browser."""
    return Browser()

"""The one boundary to Stripe: every call goes through the official SDK's StripeClient here.

``api_base`` points it at the offline sandbox (``STRIPE_API_BASE``); unset, it talks to Stripe.
Methods return plain dicts so the rest of the core never handles SDK objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import stripe

from payments.stripe.facts import PaymentFacts, payment_facts

# Carries the portal's attempt reference in Checkout Session and PaymentIntent metadata.
ATTEMPT_METADATA_KEY = "portal_attempt"


class StripeGateway:
    """A thin, typed facade over the Stripe calls AR Portal makes."""

    page_size = 100  # list pages (Stripe's maximum)

    def __init__(self, secret_key: str, api_base: str | None = None,
                 max_network_retries: int = 2) -> None:
        bases = {"api": api_base.rstrip("/")} if api_base else None
        self._client = stripe.StripeClient(secret_key, base_addresses=bases,
                                           max_network_retries=max_network_retries)
        self.v1 = self._client.v1

    @staticmethod
    def _opts(idempotency_key: str | None) -> dict[str, Any] | None:
        return {"idempotency_key": idempotency_key} if idempotency_key else None

    def create_customer(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Create a Stripe Customer (once per portal customer; the caller remembers the id)."""
        return self.v1.customers.create(params, self._opts(idempotency_key)).to_dict()

    def create_checkout_session(self, params: dict[str, Any],
                                idempotency_key: str) -> dict[str, Any]:
        """Create a Checkout Session for exactly the amounts the portal computed."""
        return self.v1.checkout.sessions.create(params, self._opts(idempotency_key)).to_dict()

    def expire_checkout_session(self, session_id: str,
                                idempotency_key: str) -> dict[str, Any] | None:
        """Expire an open session so it can no longer be paid; None if it was not open."""
        try:
            return self.v1.checkout.sessions.expire(session_id, None,
                                                    self._opts(idempotency_key)).to_dict()
        except stripe.InvalidRequestError:
            return None  # already completed or expired: nothing left to stop

    def checkout_session(self, session_id: str) -> dict[str, Any]:
        """The session as it is now, with its PaymentIntent expanded."""
        return self.v1.checkout.sessions.retrieve(
            session_id, {"expand": ["payment_intent"]}).to_dict()

    def payment_facts(self, payment_intent_id: str, refunds_recorded: bool = True
                      ) -> tuple[dict[str, Any], PaymentFacts | None]:
        """The PaymentIntent now, and the ledger facts it implies (None: no money has moved).

        ``refunds_recorded``: the portal has recorded a refund of this payment before.
        """
        # Raw reads (plain JSON, same client, retries and errors): the webhook path makes one
        # per new payment state, and building SDK objects cost more than the rest of the read.
        intent = self._get(f"/v1/payment_intents/{payment_intent_id}", expand=["latest_charge"])
        charge = intent.get("latest_charge") if isinstance(intent.get("latest_charge"), dict) \
            else {}
        # A refund counts on the charge from its creation until it fails, when it leaves no
        # trace there: so refunds are listed if the charge shows one or the portal recorded
        # one (which may since have failed). Disputes are listed when the charge says it was
        # disputed, which it keeps saying after the dispute ends.
        refunds = []
        if refunds_recorded or charge.get("amount_refunded") or not charge:
            refunds = self._list("/v1/refunds", payment_intent=payment_intent_id)
        disputes = []
        if charge.get("disputed") or not charge:
            disputes = self._list("/v1/disputes", payment_intent=payment_intent_id)
        return intent, payment_facts(intent, refunds, disputes)

    def create_refund(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Refund all or part of a payment."""
        return self.v1.refunds.create(params, self._opts(idempotency_key)).to_dict()

    def events(self, created_gte: int | None = None) -> Iterator[dict[str, Any]]:
        """Every event Stripe still lists (30 days at most), newest first, page by page."""
        params: dict[str, Any] = {"limit": 100}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        for event in self.v1.events.list(params).auto_paging_iter():
            yield event.to_dict()

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        return self._client.raw_request("get", path, **params).data

    def _list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self._get(path, limit=self.page_size, **params)
            items.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return items
            params["starting_after"] = page["data"][-1]["id"]

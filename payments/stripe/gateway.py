"""The one boundary to Stripe: every call goes through the official SDK's StripeClient here.

``api_base`` points it at the offline sandbox (``STRIPE_API_BASE``); unset, it talks to Stripe.
Methods return plain dicts, and raise only :mod:`payments.stripe.errors` (never the SDK's), so
nothing else in the portal imports ``stripe``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import stripe

from payments.stripe.errors import StripeRefused, StripeUnavailable
from payments.stripe.facts import PaymentFacts, payment_facts

# Carries the portal's attempt reference in Checkout Session and PaymentIntent metadata.
ATTEMPT_METADATA_KEY = "portal_attempt"


T = TypeVar("T")
# The SDK's errors that mean "no answer": the request may or may not have been carried out.
_UNANSWERED = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)


def _core_error(exc: stripe.StripeError) -> Exception:
    if isinstance(exc, _UNANSWERED):
        return StripeUnavailable(str(exc))
    return StripeRefused(exc.user_message or str(exc))


def _translated(call: Callable[..., T]) -> Callable[..., T]:
    """Raise the core's Stripe errors instead of the SDK's."""

    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return call(*args, **kwargs)
        except stripe.StripeError as exc:
            raise _core_error(exc) from exc

    return wrapper


def _iterated(call: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
    """:func:`_translated` for generators: errors raised while paging are translated too."""

    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[T]:
        try:
            yield from call(*args, **kwargs)
        except stripe.StripeError as exc:
            raise _core_error(exc) from exc

    return wrapper


class StripeGateway:
    """A thin, typed facade over the Stripe calls AR Portal makes."""

    page_size = 100  # list pages (Stripe's maximum)

    def __init__(self, secret_key: str, api_base: str | None = None,
                 max_network_retries: int = 2) -> None:
        bases = {"api": api_base.rstrip("/")} if api_base else None
        self._client = stripe.StripeClient(secret_key, base_addresses=bases,
                                           max_network_retries=max_network_retries)
        self._v1 = self._client.v1

    @staticmethod
    def _opts(idempotency_key: str | None) -> dict[str, Any] | None:
        return {"idempotency_key": idempotency_key} if idempotency_key else None

    @_translated
    def create_customer(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Create a Stripe Customer (once per portal customer; the caller remembers the id)."""
        return self._v1.customers.create(params, self._opts(idempotency_key)).to_dict()

    @_translated
    def create_checkout_session(self, params: dict[str, Any],
                                idempotency_key: str) -> dict[str, Any]:
        """Create a Checkout Session for exactly the amounts the portal computed."""
        return self._v1.checkout.sessions.create(params, self._opts(idempotency_key)).to_dict()

    @_translated
    def expire_checkout_session(self, session_id: str,
                                idempotency_key: str) -> dict[str, Any] | None:
        """Expire an open session so it can no longer be paid; None if it was not open."""
        try:
            return self._v1.checkout.sessions.expire(session_id, None,
                                                    self._opts(idempotency_key)).to_dict()
        except stripe.InvalidRequestError:
            return None  # already completed or expired: nothing left to stop

    @_translated
    def checkout_session(self, session_id: str) -> dict[str, Any]:
        """The session as it is now, with its PaymentIntent expanded."""
        return self._v1.checkout.sessions.retrieve(
            session_id, {"expand": ["payment_intent"]}).to_dict()

    @_translated
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

    @_translated
    def create_refund(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Refund all or part of a payment."""
        return self._v1.refunds.create(params, self._opts(idempotency_key)).to_dict()

    @_iterated
    def events(self, created_gte: int | None = None) -> Iterator[dict[str, Any]]:
        """Every event Stripe still lists (30 days at most), newest first, page by page."""
        params: dict[str, Any] = {"limit": 100}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        for event in self._v1.events.list(params).auto_paging_iter():
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

"""The core's own Stripe errors: the gateway translates the SDK's into these, so nothing
outside :mod:`payments.stripe.gateway` handles (or imports) the SDK."""

from __future__ import annotations


class StripeError(Exception):
    """A call to Stripe did not give what was asked."""


class StripeUnavailable(StripeError):
    """Stripe could not be reached or did not answer in time (network, 5xx, rate limit): the
    request may or may not have been carried out; retry it with the same idempotency key."""


class StripeRefused(StripeError):
    """Stripe answered and refused the request (invalid, declined, not allowed); the message
    is Stripe's, meant for a person."""

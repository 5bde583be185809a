"""Stripe-shaped errors: ``{"error": {"type", "code", "message", "param", ...}}`` with Stripe's
HTTP status codes (400 invalid request, 401 authentication, 402 card error, 404 missing)."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An error the sandbox answers with, in Stripe's error object shape."""

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """The JSON body Stripe sends for this error."""
        error: dict[str, Any] = {"type": self.type, "code": self.code,
                                 "message": self.message, "param": self.param}
        if self.code:
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if request_id:
            error["request_log_url"] = (
                f"https://dashboard.stripe.com/test/logs/{request_id}")
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None,
            **extra: Any) -> StripeError:
    """A 400 ``invalid_request_error``."""
    return StripeError(400, "invalid_request_error", message, code=code, param=param, **extra)


def missing_param(param: str) -> StripeError:
    """A required parameter was not sent."""
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def unknown_param(param: str) -> StripeError:
    """A parameter the endpoint does not take."""
    return invalid(f"Received unknown parameter: {param}", param, "parameter_unknown")


def no_such(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    """The object does not exist (404 for a path id, 400 for a referenced id)."""
    return StripeError(status, "invalid_request_error", f"No such {kind}: '{object_id}'",
                       code="resource_missing", param=param)


def state_error(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """The object is in a state that does not allow the request."""
    return invalid(message, param, code)


def authentication(message: str) -> StripeError:
    """A 401 for a missing or unusable API key."""
    return StripeError(401, "invalid_request_error", message, code="api_key_invalid")


def idempotency(key: str) -> StripeError:
    """The same Idempotency-Key was used with different parameters."""
    return StripeError(
        400, "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.")


def card_error(code: str, message: str, decline_code: str | None = None,
               **extra: Any) -> StripeError:
    """A 402 ``card_error`` (declines, authentication failures)."""
    if decline_code:
        extra["decline_code"] = decline_code
    return StripeError(402, "card_error", message, code=code, **extra)

"""The ``/v1`` plumbing every endpoint shares: API key check, Stripe's form decoding, the
parameter schema, Idempotency-Key replay, ``expand[]``, JSON responses and error objects."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request

from stripe_sandbox import checkout, errors, settlement
from stripe_sandbox.objects import new_id, snapshot
from stripe_sandbox.params import coerce, parse_form
from stripe_sandbox.store import Store

bp = Blueprint("stripe_api", __name__, url_prefix="/v1")
Handler = Callable[..., dict[str, Any]]
NO_KEY = ("You did not provide an API key. You need to provide your API key in the "
          "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
          "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.")
EXPANDABLE = {
    "checkout.session": {"customer", "payment_intent", "line_items"},
    "payment_intent": {"customer", "latest_charge", "payment_method"},
    "charge": {"customer", "payment_intent"},
    "refund": {"charge", "payment_intent"},
    "dispute": {"charge", "payment_intent"},
    "customer_cash_balance_transaction": {"customer"},
}


def store() -> Store:
    """The sandbox state of the current app."""
    return current_app.extensions["stripe_sandbox"].store


def base_url() -> str:
    """Where the sandbox's own pages are reachable (``SANDBOX_PUBLIC_URL`` or this host)."""
    return (current_app.config.get("SANDBOX_PUBLIC_URL") or request.host_url).rstrip("/")


def endpoint(rule: str, method: str, schema: dict[str, Any]) -> Callable[[Handler], Handler]:
    """Register ``handler(store, params, **path)`` as a Stripe endpoint at ``/v1`` + rule."""
    def register(handler: Handler) -> Handler:
        def view(**path: str) -> Response:
            return serve(handler, schema, path)
        bp.add_url_rule(rule, handler.__name__, view, methods=[method])
        return handler
    return register


def api_key() -> str:
    """The secret key from ``Authorization`` (Bearer, or Basic with the key as user)."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    key = credentials.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    elif scheme.lower() != "bearer":
        key = ""
    if not key:
        raise errors.StripeError(401, "invalid_request_error", NO_KEY)
    if not re.fullmatch(r"sk_test_\w+", key):
        masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
        raise errors.authentication(f"Invalid API Key provided: {masked}. The Stripe sandbox "
                                    "accepts test mode secret keys (sk_test_...) only.")
    return key


def serve(handler: Handler, schema: dict[str, Any], path: dict[str, str]) -> Response:
    """Run one API request the way Stripe does, under the state lock."""
    request_id = new_id("req", 14)
    state = store()
    try:
        key = api_key()
        pairs = request.form.items(multi=True) if request.method == "POST" else \
            request.args.items(multi=True)
        raw = parse_form(pairs)
        idempotency_key = request.headers.get("Idempotency-Key") \
            if request.method == "POST" else None
        with state.lock:
            if idempotency_key:
                replay = _replay(state, key, idempotency_key, raw)
                if replay is not None:
                    return replay
            status, body = _run(state, handler, schema, path, raw, request_id,
                                idempotency_key)
            if idempotency_key and (status < 400 or status == 402):
                state.save_response(key, idempotency_key, {
                    "fingerprint": _fingerprint(raw), "status": status, "body": body,
                    "request_id": request_id})
        return respond(body, status, request_id, idempotency_key)
    except errors.StripeError as exc:
        return respond(exc.body(request_id), exc.status, request_id)


def _run(state: Store, handler: Handler, schema: dict[str, Any], path: dict[str, str],
         raw: dict[str, Any], request_id: str, idempotency_key: str | None
         ) -> tuple[int, dict[str, Any]]:
    settlement.tick(state)
    state.request = {"id": request_id, "idempotency_key": idempotency_key}
    try:
        params = coerce(raw, schema)
        result = handler(state, params, **path)
        return 200, expand(state, snapshot(result), params.get("expand", []))
    except errors.StripeError as exc:
        return exc.status, exc.body(request_id)
    finally:
        state.request = {"id": None, "idempotency_key": None}


def _fingerprint(raw: dict[str, Any]) -> str:
    return json.dumps([request.method, request.path, raw], sort_keys=True)


def _replay(state: Store, key: str, idempotency_key: str,
            raw: dict[str, Any]) -> Response | None:
    if len(idempotency_key) > 255:
        raise errors.invalid("Idempotency-Key must be at most 255 characters long.",
                             "Idempotency-Key")
    saved = state.saved_response(key, idempotency_key)
    if saved is None:
        return None
    if saved["fingerprint"] != _fingerprint(raw):
        raise errors.idempotency(idempotency_key)
    response = respond(saved["body"], saved["status"], saved["request_id"], idempotency_key)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def respond(body: dict[str, Any], status: int, request_id: str,
            idempotency_key: str | None = None) -> Response:
    """A JSON response with Stripe's headers."""
    response = Response(json.dumps(body, indent=2) + "\n", status=status,
                        mimetype="application/json")
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = (request.headers.get("Stripe-Version")
                                          or current_app.config["SANDBOX_API_VERSION"])
    if idempotency_key:
        response.headers["Idempotency-Key"] = idempotency_key
    return response


def expand(state: Store, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Replace ids by objects along each ``expand[]`` path (``data.`` for lists)."""
    for path in paths:
        parts = path.split(".")
        if len(parts) > 4:
            raise errors.invalid("You cannot expand more than 4 levels of a property.",
                                 "expand")
        _expand(state, obj, parts, path)
    return obj


def _expand(state: Store, node: dict[str, Any], parts: list[str], path: str) -> None:
    if node.get("object") == "list" and parts[0] == "data":
        for item in node["data"] if parts[1:] else []:
            _expand(state, item, parts[1:], path)
        return
    field, rest = parts[0], parts[1:]
    if field not in EXPANDABLE.get(node.get("object", ""), ()):
        raise errors.invalid(f"This property cannot be expanded ({path}).", "expand")
    value = node.get(field)
    if field == "line_items" and node.get("object") == "checkout.session":
        node[field] = snapshot(checkout.line_items_object(state, node))
    elif isinstance(value, str):
        found = state.find(value)
        node[field] = snapshot(found) if found else value
    if rest and isinstance(node.get(field), dict):
        _expand(state, node[field], rest, path)


def unrecognized(exc: Exception) -> Response:
    """Stripe's answer for a URL or method it does not know."""
    error = errors.StripeError(404, "invalid_request_error",
                               f"Unrecognized request URL ({request.method}: {request.path}). "
                               "Please see https://stripe.com/docs or we can help at "
                               "https://support.stripe.com/.")
    return respond(error.body(), 404, new_id("req", 14))

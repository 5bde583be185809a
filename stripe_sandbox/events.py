"""Events: created as Stripe creates them (a snapshot of the object at that moment, with
``previous_attributes`` where Stripe sends them), listed newest first for 30 days."""

from __future__ import annotations

import fnmatch
from typing import Any

from stripe_sandbox import errors
from stripe_sandbox.objects import make, new_id, snapshot
from stripe_sandbox.params import in_range
from stripe_sandbox.store import Store

RETENTION = 30 * 24 * 60 * 60

# Types the sandbox sends, plus neighbours a webhook endpoint may reasonably subscribe to.
EVENT_TYPES = frozenset("""
cash_balance.funds_available charge.captured charge.dispute.closed charge.dispute.created
charge.dispute.funds_reinstated charge.dispute.funds_withdrawn charge.dispute.updated
charge.expired charge.failed charge.pending charge.refund.updated charge.refunded
charge.succeeded charge.updated checkout.session.async_payment_failed
checkout.session.async_payment_succeeded checkout.session.completed checkout.session.expired
customer.created customer.deleted customer.updated customer_cash_balance_transaction.created
payment_intent.amount_capturable_updated payment_intent.canceled payment_intent.created
payment_intent.partially_funded payment_intent.payment_failed payment_intent.processing
payment_intent.requires_action payment_intent.succeeded payment_method.attached
refund.created refund.failed refund.updated
""".split())


def apply(obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Set ``fields`` on ``obj``; return the previous values of those that changed."""
    previous = {}
    for key, value in fields.items():
        if obj.get(key) != value:
            previous[key] = snapshot(obj.get(key))
            obj[key] = value
    return previous


def emit(store: Store, type_: str, obj: dict[str, Any],
         previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record an event about ``obj`` and hand it to webhook delivery."""
    data: dict[str, Any] = {"object": snapshot(obj)}
    if previous:
        data["previous_attributes"] = previous
    event = make("event", id=new_id("evt"), type=type_, created=store.now(), data=data,
                 api_version=store.config["SANDBOX_API_VERSION"],
                 request=dict(store.request), pending_webhooks=0)
    store.add(event)
    store.on_event(event)
    return event


def retained(store: Store, event: dict[str, Any]) -> bool:
    """Stripe keeps events retrievable and listable for 30 days."""
    return event["created"] >= store.now() - RETENTION


def retrieve(store: Store, event_id: str) -> dict[str, Any]:
    """One event, unless it is older than 30 days."""
    event = store.get("event", event_id)
    if not retained(store, event):
        raise errors.no_such("event", event_id)
    return event


def select(store: Store, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Events for ``GET /v1/events``: ``type`` (with ``*``), ``types[]``, ``created``,
    ``delivery_success`` (false: some webhook is still pending, failed or was dropped)."""
    if params.get("type") and params.get("types"):
        raise errors.invalid("You may only specify one of these parameters: type, types.",
                             "types")
    patterns = params.get("types") or ([params["type"]] if params.get("type") else ["*"])
    if len(patterns) > 20:
        raise errors.invalid("You may pass at most 20 types.", "types")
    created, delivered = params.get("created"), params.get("delivery_success")

    def keep(event: dict[str, Any]) -> bool:
        return (retained(store, event)
                and any(fnmatch.fnmatchcase(event["type"], pattern) for pattern in patterns)
                and (created is None or in_range(event["created"], created))
                and (delivered is None or delivered == delivery_succeeded(store, event)))

    return store.newest_first("event", keep)


def delivery_succeeded(store: Store, event: dict[str, Any]) -> bool:
    """Whether every webhook delivery of ``event`` succeeded."""
    return event["pending_webhooks"] == 0 and not store.facts(event["id"]).get("undelivered")

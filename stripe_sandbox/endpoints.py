"""Webhook endpoints: ``/v1/webhook_endpoints`` create (returns the ``whsec_`` secret, once),
retrieve, update, list and delete; and which endpoints an event goes to."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from stripe_sandbox import errors
from stripe_sandbox import params as p
from stripe_sandbox.events import EVENT_TYPES
from stripe_sandbox.objects import make, merge_metadata, new_id, random_code
from stripe_sandbox.store import Store

CREATE = {"url": p.string(), "enabled_events": [p.string()], "description": p.string(),
          "metadata": p.metadata, "api_version": p.string(), "connect": p.boolean,
          "expand": [p.string()]}
UPDATE = {"url": p.string(), "enabled_events": [p.string()], "description": p.string(),
          "metadata": p.metadata, "disabled": p.boolean, "expand": [p.string()]}


def _check(params: dict[str, Any]) -> None:
    if "url" in params and urlparse(params["url"]).scheme not in ("http", "https"):
        raise errors.invalid("Invalid URL: URL must be publicly accessible and use http or "
                             "https.", "url", "url_invalid")
    for index, name in enumerate(params.get("enabled_events", [])):
        if name != "*" and name not in EVENT_TYPES:
            raise errors.invalid(f"Invalid enabled_events[{index}]: must be one of the "
                                 "event types Stripe sends, or '*'.",
                                 f"enabled_events[{index}]")


def create(store: Store, params: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    """Register an endpoint; the response (only) carries its signing ``secret``."""
    p.require(params, "url", "enabled_events")
    _check(params)
    endpoint = make("webhook_endpoint", id=new_id("we"), url=params["url"],
                    enabled_events=params["enabled_events"], created=store.now(),
                    description=params.get("description"),
                    metadata=params.get("metadata", {}),
                    api_version=params.get("api_version"), status="enabled")
    store.add(endpoint)
    secret = secret or f"whsec_{random_code(32, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    store.facts(endpoint["id"])["secret"] = secret
    return dict(endpoint, secret=secret)


def update(store: Store, endpoint: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/webhook_endpoints/{id}``: url, events, description, metadata, disabled."""
    _check(params)
    for key in ("url", "enabled_events", "description"):
        if key in params:
            endpoint[key] = params[key]
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"])
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    return endpoint


def delete(store: Store, endpoint: dict[str, Any]) -> dict[str, Any]:
    """Remove the endpoint; nothing more is delivered to it."""
    del store.objects["webhook_endpoint"][endpoint["id"]]
    return make("deleted_webhook_endpoint", id=endpoint["id"], deleted=True)


def secret_of(store: Store, endpoint_id: str) -> str:
    """The signing secret of an endpoint."""
    return store.facts(endpoint_id)["secret"]


def subscribed(store: Store, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Enabled endpoints that take ``event``'s type, oldest first."""
    return [endpoint for endpoint in reversed(store.newest_first("webhook_endpoint"))
            if endpoint["status"] == "enabled"
            and ("*" in endpoint["enabled_events"]
                 or event["type"] in endpoint["enabled_events"])]

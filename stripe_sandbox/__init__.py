"""An offline, stateful emulation of the part of Stripe's API the portal uses, with hosted
checkout pages, signed webhooks and control endpoints. See README.md in this folder."""

from stripe_sandbox.app import DEFAULT_PORT, create_app

__all__ = ["DEFAULT_PORT", "create_app"]

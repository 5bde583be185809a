"""payments.events."""

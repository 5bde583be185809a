"""payments.stripe."""

"""payments.links."""

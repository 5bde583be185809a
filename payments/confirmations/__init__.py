"""payments.confirmations."""

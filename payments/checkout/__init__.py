"""payments.checkout."""

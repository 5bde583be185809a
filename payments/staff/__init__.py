"""payments.staff."""

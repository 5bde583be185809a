"""payments.console."""

"""payments.invoicing."""

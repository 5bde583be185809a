"""payments.ledger."""

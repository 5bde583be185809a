"""payments.resolutions."""

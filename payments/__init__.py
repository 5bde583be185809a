"""AR Portal's framework-free core, one package per bounded context (see the README's layout).

Nothing in this package imports Flask or ``portal``, only ``payments/stripe/gateway.py`` imports
the Stripe SDK, and a context imports only the contexts below it; ``tests/test_architecture.py``
checks all three.
"""

"""AR Portal's framework-free core: money, models, pay links, invoices and (later) the ledger.

Nothing in this package imports Flask or ``portal``; the web app and the CLI are thin layers on top.
"""

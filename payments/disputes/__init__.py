"""Commercial disputes: a customer disagrees with an invoice (pricing, quantity, damage …) on
its page, staff resolve it with a credit note, an adjustment or a rejection, and the customer
is told. Not card chargebacks: Stripe disputes stay reconciliation events (``ledger``)."""

"""How new pay links are made: the link key and how long links live.

Invoicing calls :meth:`LinkPolicy.issue` through its :class:`~payments.invoicing.upsert.LinkIssuer`
protocol when it creates a customer or an invoice, so invoicing never imports links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from payments.links import tokens


@dataclass(frozen=True)
class LinkPolicy:
    """How new pay links are made: the key that derives tokens and how long they live."""

    key: tokens.LinkKey
    ttl: timedelta | None

    def issue(self, session: Session, *, invoice_id: int | None = None,
              customer_id: int | None = None) -> None:
        """Give a new invoice (or a new customer's statement) its first pay link."""
        tokens.issue(session, self.key, invoice_id=invoice_id, customer_id=customer_id,
                     ttl=self.ttl)

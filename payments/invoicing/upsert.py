"""Creating, updating and voiding invoices.

Balances (``amount_paid``, ``amount_pending``) are never written here: they belong to the ledger.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.invoicing.models import Customer, Invoice, InvoiceLine
from payments.invoicing.schemas import CustomerIn, InvoiceIn
from payments.invoicing.status import has_money

Outcome = Literal["created", "updated", "unchanged"]


class LinkIssuer(Protocol):
    """Gives each new customer and invoice its first pay link (:class:`payments.links.policy.
    LinkPolicy`; invoicing sits below links, so it only knows this protocol)."""

    def issue(self, session: Session, *, invoice_id: int | None = None,
              customer_id: int | None = None) -> None:
        """Issue the target's pay link."""


class Conflict(Exception):
    """The change contradicts the invoice's state (e.g. a new total after money arrived)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Upserted:
    """Result of :func:`upsert_invoice`."""

    invoice: Invoice
    outcome: Outcome


def content_hash(payload: InvoiceIn) -> str:
    """Fingerprint of an invoice payload; the same body twice gives the same hash."""
    return hashlib.sha256(payload.model_dump_json().encode()).hexdigest()


def upsert_customer(session: Session, data: CustomerIn, policy: LinkIssuer) -> Customer:
    """Create the customer (with a statement link) or bring its name and email up to date."""
    customer = session.scalar(
        select(Customer).where(Customer.external_id == data.external_id).with_for_update()
    )
    if customer is None:
        customer = Customer(external_id=data.external_id, name=data.name, email=data.email)
        session.add(customer)
        session.flush()
        policy.issue(session, customer_id=customer.id)
    elif (customer.name, customer.email) != (data.name, data.email):
        customer.name, customer.email = data.name, data.email
    return customer


def upsert_invoice(session: Session, payload: InvoiceIn, policy: LinkIssuer) -> Upserted:
    """Create or update the invoice with ``payload.external_id``; the same payload is a no-op.

    Raises :class:`Conflict` when the invoice is void, or when money has moved on it and the
    payload changes its total, currency or customer.
    """
    digest = content_hash(payload)
    customer = upsert_customer(session, payload.customer, policy)
    invoice = session.scalar(
        select(Invoice).where(Invoice.external_id == payload.external_id).with_for_update()
    )
    if invoice is None:
        invoice = Invoice(external_id=payload.external_id, revision=1)
        _apply(invoice, payload, customer, digest)
        session.add(invoice)
        session.flush()
        policy.issue(session, invoice_id=invoice.id)
        return Upserted(invoice, "created")
    if invoice.content_hash == digest:
        return Upserted(invoice, "unchanged")
    _check_change_allowed(invoice, payload, customer)
    # Old lines go first: (invoice_id, position) is unique and the flush would insert before it
    # deletes.
    invoice.lines.clear()
    session.flush()
    _apply(invoice, payload, customer, digest)
    invoice.revision += 1
    return Upserted(invoice, "updated")


def _check_change_allowed(invoice: Invoice, payload: InvoiceIn, customer: Customer) -> None:
    if invoice.voided_at is not None:
        raise Conflict("the invoice is void and cannot be changed")
    if not has_money(invoice):
        return
    for field, old, new in (
        ("total", invoice.total, payload.total),
        ("currency", invoice.currency, payload.currency),
        ("customer", invoice.customer_id, customer.id),
    ):
        if old != new:
            raise Conflict(f"{field} cannot change: the invoice has payments", field)


def _apply(invoice: Invoice, payload: InvoiceIn, customer: Customer, digest: str) -> None:
    invoice.customer = customer
    for name in ("number", "currency", "issue_date", "due_date", "terms", "memo", "tax_amount",
                 "total", "allow_partial", "min_partial_amount"):
        setattr(invoice, name, getattr(payload, name))
    invoice.subtotal = payload.subtotal
    invoice.content_hash = digest
    invoice.lines = [
        InvoiceLine(
            position=i,
            description=line.description,
            quantity=None if line.quantity is None else _plain(line.quantity),
            unit_amount=line.unit_amount,
            amount=line.amount,
        )
        for i, line in enumerate(payload.lines, start=1)
    ]


def _plain(quantity: Decimal) -> str:
    # "40", "1.5": never the exponent form that Decimal.normalize() gives for 40 ("4E+1").
    text = format(quantity, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def void_invoice(session: Session, invoice: Invoice) -> bool:
    """Void the invoice; returns False if it already was. Raises Conflict if money has moved."""
    if invoice.voided_at is not None:
        return False
    if has_money(invoice):
        raise Conflict("an invoice with payments cannot be voided; refund them first")
    invoice.voided_at = utcnow()
    invoice.revision += 1
    return True

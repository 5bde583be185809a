"""Invoices to JSON, with their live pay link and the customer's statement link."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.disputes import reads
from payments.invoicing.models import Invoice
from payments.invoicing.status import status_of
from payments.links.models import PayLink
from portal import urls


def invoices_json(session: Session, invoices: list[Invoice]) -> list[dict[str, Any]]:
    """Serialise ``invoices`` (customers and lines loaded) with two queries for all their links
    and one for what credits and adjustments settled."""
    key = current_app.extensions["portal.links"].key
    by_invoice, by_customer = _active_links(session, invoices)
    credited = reads.credited_many(session, [inv.id for inv in invoices])
    today = datetime.now(UTC).date()
    out = []
    for inv in invoices:
        link, statement = by_invoice.get(inv.id), by_customer.get(inv.customer_id)
        pay = urls.pay_url(key.token(link.nonce)) if link else None
        status, days = status_of(total=inv.total, amount_paid=inv.amount_paid,
                                 voided=inv.voided_at is not None, due_date=inv.due_date,
                                 today=today)
        c = inv.customer
        out.append({
            "id": inv.id, "external_id": inv.external_id, "number": inv.number,
            "status": status, "days_overdue": days, "currency": inv.currency,
            "issue_date": inv.issue_date.isoformat(), "due_date": inv.due_date.isoformat(),
            "terms": inv.terms, "memo": inv.memo,
            "lines": [{"description": ln.description, "quantity": ln.quantity,
                       "unit_amount": ln.unit_amount, "amount": ln.amount} for ln in inv.lines],
            "subtotal": inv.subtotal, "tax_amount": inv.tax_amount, "total": inv.total,
            "amount_paid": inv.amount_paid, "amount_credited": credited.get(inv.id, 0),
            "amount_pending": inv.amount_pending,
            "amount_due": inv.amount_due, "allow_partial": inv.allow_partial,
            "min_partial_amount": inv.min_partial_amount, "revision": inv.revision,
            "pay_url": pay, "pdf_url": f"{pay}/pdf" if pay else None,
            "qr_svg_url": f"{pay}/qr.svg" if pay else None,
            "pay_url_expires_at": iso(link.expires_at) if link else None,
            "customer": {
                "id": c.id, "external_id": c.external_id, "name": c.name, "email": c.email,
                "statement_url": urls.statement_url(key.token(statement.nonce)) if statement
                else None,
            },
            "created_at": iso(inv.created_at), "updated_at": iso(inv.updated_at),
            "voided_at": iso(inv.voided_at),
        })
    return out


def _active_links(session: Session, invoices: list[Invoice]):
    invoice_ids = [inv.id for inv in invoices]
    customer_ids = list({inv.customer_id for inv in invoices})
    live = PayLink.revoked_at.is_(None)
    by_invoice = {link.invoice_id: link for link in session.scalars(
        select(PayLink).where(live, PayLink.invoice_id.in_(invoice_ids)))}
    by_customer = {link.customer_id: link for link in session.scalars(
        select(PayLink).where(live, PayLink.customer_id.in_(customer_ids)))}
    return by_invoice, by_customer


def iso(value: datetime | None) -> str | None:
    """A UTC time as the API writes it (ISO 8601 with ``Z``), or None."""
    return value.isoformat().replace("+00:00", "Z") if value else None

"""What state an invoice is in (open, partially paid, overdue, paid, void), in Python
and as SQL, and whether money has moved on it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import and_
from sqlalchemy.sql import ColumnElement

from payments.invoicing.models import Invoice


class InvoiceStatus(StrEnum):
    """What the customer and staff are shown; derived from the balances and dates, not stored."""

    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    OVERDUE = "overdue"
    PAID = "paid"
    VOID = "void"


STATUSES = tuple(status.value for status in InvoiceStatus)


def has_money(invoice: Invoice) -> bool:
    """True once any payment (settled or pending) has touched the invoice."""
    return bool(invoice.amount_paid or invoice.amount_pending)


def status_of(
    *, total: int, amount_paid: int, voided: bool, due_date: date, today: date
) -> tuple[InvoiceStatus, int]:
    """The invoice's status and how many days it is overdue (0 unless status is "overdue")."""
    if voided:
        return InvoiceStatus.VOID, 0
    if amount_paid >= total:
        return InvoiceStatus.PAID, 0
    if due_date < today:
        return InvoiceStatus.OVERDUE, (today - due_date).days
    return (InvoiceStatus.PARTIALLY_PAID if amount_paid > 0 else InvoiceStatus.OPEN), 0


def status_clause(status: str, today: date) -> ColumnElement[bool]:
    """SQL condition equivalent to ``status_of(...)[0] == status``, for list filters."""
    live = Invoice.voided_at.is_(None)
    unpaid = and_(live, Invoice.amount_paid < Invoice.total)
    not_due = Invoice.due_date >= today
    clauses = {
        "void": Invoice.voided_at.is_not(None),
        "paid": and_(live, Invoice.amount_paid >= Invoice.total),
        "overdue": and_(unpaid, Invoice.due_date < today),
        "partially_paid": and_(unpaid, not_due, Invoice.amount_paid > 0),
        "open": and_(unpaid, not_due, Invoice.amount_paid == 0),
    }
    return clauses[status]

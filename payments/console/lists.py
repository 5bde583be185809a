"""The console's invoice and customer lists: search, filter, and keyset pages.

No OFFSET anywhere: a page starts after the last row of the previous one, found by an index,
so page 2,000 costs what page 1 does. Invoices page by id (newest first); customers by
(name, id), alphabetically. Search terms go through indexed lookups (exact invoice number or
external id); only the substring search on customer names scans, and it scans customers, never
invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, RowMapping, and_, func, or_, select, tuple_, union
from sqlalchemy.orm import Session

from payments.invoicing.models import Customer, Invoice
from payments.invoicing.status import status_of
from payments.links.customer_pages import InvoiceColumns
from payments.paging import Page, keyset

PAGE_SIZE = 50
MAX_QUERY = 200
# What the status filter offers; "open" is every invoice still owed, overdue ones included.
LIST_STATUSES = ("open", "overdue", "paid", "void")


@dataclass(frozen=True)
class InvoiceRow(InvoiceColumns):
    """An invoice in the list, with its customer's name and its status as of today."""

    row: RowMapping
    status: str
    days_overdue: int


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _owed() -> ColumnElement[bool]:
    return and_(Invoice.voided_at.is_(None), Invoice.amount_paid < Invoice.total)


def list_status_clause(status: str, today: date) -> ColumnElement[bool]:
    """SQL for one of :data:`LIST_STATUSES`."""
    live, owed = Invoice.voided_at.is_(None), _owed()
    return {
        "open": owed,
        "overdue": and_(owed, Invoice.due_date < today),
        "paid": and_(live, Invoice.amount_paid >= Invoice.total),
        "void": Invoice.voided_at.is_not(None),
    }[status]


def _matching_invoices(q: str):
    """Ids of invoices whose number or external id is ``q`` (indexed), or whose customer's
    name contains it or external id is it (customers scanned, their invoices indexed)."""
    customers = select(Customer.id).where(or_(Customer.name.ilike(_like(q), escape="\\"),
                                              Customer.external_id == q))
    return union(
        select(Invoice.id).where(Invoice.number.in_(sorted({q, q.upper()}))),
        select(Invoice.id).where(Invoice.external_id == q),
        select(Invoice.id).where(Invoice.customer_id.in_(customers)),
    ).subquery("matching")


_INVOICE_COLUMNS = (Invoice.id, Invoice.number, Invoice.external_id, Invoice.currency,
                    Invoice.issue_date, Invoice.due_date, Invoice.total, Invoice.amount_paid,
                    Invoice.amount_pending, Invoice.voided_at, Invoice.customer_id,
                    Customer.name.label("customer_name"))


def invoices(session: Session, today: date, q: str = "", status: str | None = None,
             customer_id: int | None = None, cursor: int | None = None,
             limit: int = PAGE_SIZE) -> Page:
    """Invoices newest first (by id), optionally searched, filtered by status or customer."""
    query = select(*_INVOICE_COLUMNS).join(Customer, Customer.id == Invoice.customer_id)
    q = q.strip()[:MAX_QUERY]
    if q:
        query = query.where(Invoice.id.in_(select(_matching_invoices(q))))
    if status in LIST_STATUSES:
        query = query.where(list_status_clause(status, today))
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    found = keyset(session, query, Invoice.id, cursor, limit, newest_first=True, mappings=True)
    rows = [InvoiceRow(r, *status_of(total=r["total"], amount_paid=r["amount_paid"],
                                     voided=r["voided_at"] is not None, due_date=r["due_date"],
                                     today=today)) for r in found.rows]
    return Page(rows, found.next_cursor)


@dataclass(frozen=True)
class CustomerRow:
    """A customer in the list, with what its open invoices owe per currency."""

    customer: Customer
    open_count: int
    owed: dict[str, int]


def customers(session: Session, q: str = "", cursor: int | None = None,
              limit: int = PAGE_SIZE) -> Page:
    """Customers by name (then id), optionally searched by name (contains), external id or
    email (exact); ``cursor`` is the id of the last customer of the previous page."""
    query = select(Customer)
    q = q.strip()[:MAX_QUERY]
    if q:
        query = query.where(or_(Customer.name.ilike(_like(q), escape="\\"),
                                Customer.external_id == q,
                                func.lower(Customer.email) == q.lower()))
    after = session.get(Customer, cursor) if cursor is not None else None
    if after is not None:
        query = query.where(tuple_(Customer.name, Customer.id) > tuple_(after.name, after.id))
    found = session.scalars(query.order_by(Customer.name, Customer.id).limit(limit + 1)).all()
    page = list(found[:limit])
    owed = _open_balances(session, [c.id for c in page])
    rows = [CustomerRow(c, *owed.get(c.id, (0, {}))) for c in page]
    return Page(rows, page[-1].id if len(found) > limit else None)


def _open_balances(session: Session, ids: list[int]) -> dict[int, tuple[int, dict[str, int]]]:
    """Per customer: how many invoices are open and what they owe per currency (one grouped
    query over the page's customers, through the customer/due-date index)."""
    if not ids:
        return {}
    out: dict[int, tuple[int, dict[str, int]]] = {}
    for customer_id, currency, count, owed in session.execute(
            select(Invoice.customer_id, Invoice.currency, func.count(),
                   func.sum(Invoice.total - Invoice.amount_paid))
            .where(Invoice.customer_id.in_(ids), _owed())
            .group_by(Invoice.customer_id, Invoice.currency)
            .order_by(Invoice.customer_id, Invoice.currency)):
        count_so_far, by_currency = out.get(customer_id, (0, {}))
        by_currency[currency] = int(owed)
        out[customer_id] = (count_so_far + count, by_currency)
    return out

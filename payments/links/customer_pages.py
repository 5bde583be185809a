"""Read models of the customer pages: resolve a token, then load what its page shows.

These run on every page view, so they select plain columns (no ORM objects) in as few queries as
possible: the invoice page is one query (the link, its invoice, customer and lines).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import RowMapping, and_, select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.invoicing.models import Customer, Invoice, InvoiceLine
from payments.invoicing.status import status_of
from payments.links import tokens
from payments.links.models import PayLink


class LinkState(Enum):
    """What a token resolves to. Unknown and revoked deliberately look the same to callers."""

    OK = "ok"
    EXPIRED = "expired"
    NOT_FOUND = "not_found"


INVOICE_COLUMNS = (
    Invoice.id, Invoice.number, Invoice.currency, Invoice.issue_date, Invoice.due_date,
    Invoice.terms, Invoice.memo, Invoice.subtotal, Invoice.tax_amount, Invoice.total,
    Invoice.amount_paid, Invoice.amount_pending, Invoice.voided_at, Invoice.revision,
    Invoice.allow_partial, Invoice.min_partial_amount,
)

_INVOICE_BY_TOKEN = (
    select(
        PayLink.id.label("link_id"), PayLink.expires_at, PayLink.revoked_at,
        *INVOICE_COLUMNS,
        Customer.id.label("customer_id"), Customer.name.label("customer_name"),
        Customer.external_id.label("customer_external_id"),
    )
    .join(Invoice, Invoice.id == PayLink.invoice_id)
    .join(Customer, Customer.id == Invoice.customer_id)
)

_STATEMENT_BY_TOKEN = select(
    PayLink.id.label("link_id"), PayLink.expires_at, PayLink.revoked_at,
    Customer.id.label("customer_id"), Customer.name.label("customer_name"),
    Customer.external_id.label("customer_external_id"),
).join(Customer, Customer.id == PayLink.customer_id)


def _resolve(session: Session, query, token: str, now: datetime | None):
    if not tokens.well_formed(token):
        return LinkState.NOT_FOUND, None
    by_hash = query.where(PayLink.token_hash == tokens.token_hash(token))
    row = session.execute(by_hash).mappings().first()
    state = _state(row, now)
    return state, (None if state is LinkState.NOT_FOUND else row)


def _state(row: RowMapping | None, now: datetime | None) -> LinkState:
    if row is None or row["revoked_at"] is not None:
        return LinkState.NOT_FOUND
    if row["expires_at"] is not None and row["expires_at"] <= (now or utcnow()):
        return LinkState.EXPIRED
    return LinkState.OK


def resolve_invoice(session: Session, token: str, now: datetime | None = None):
    """``(state, row)`` for an invoice token; row has the invoice and customer columns."""
    return _resolve(session, _INVOICE_BY_TOKEN, token, now)


_INVOICE_PAGE = (
    _INVOICE_BY_TOKEN.add_columns(
        InvoiceLine.description.label("line_description"), InvoiceLine.quantity,
        InvoiceLine.unit_amount, InvoiceLine.amount.label("line_amount"),
        InvoiceLine.position.label("line_position"),
    )
    .outerjoin(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
    .order_by(InvoiceLine.position)
)
_LINE_KEYS = ("line_description", "quantity", "unit_amount", "line_amount", "line_position")


def load_invoice(session: Session, token: str, today: date, now: datetime | None = None):
    """``(state, view)`` for an invoice token in one query; the view is None unless OK."""
    if not tokens.well_formed(token):
        return LinkState.NOT_FOUND, None
    rows = session.execute(
        _INVOICE_PAGE.where(PayLink.token_hash == tokens.token_hash(token))
    ).mappings().all()
    state = _state(rows[0] if rows else None, now)
    if state is not LinkState.OK:
        return state, None
    invoice = {k: v for k, v in rows[0].items() if k not in _LINE_KEYS}
    lines = [{"description": r["line_description"], "quantity": r["quantity"],
              "unit_amount": r["unit_amount"], "amount": r["line_amount"],
              "position": r["line_position"]}
             for r in rows if r["line_amount"] is not None]
    return state, _view(invoice, lines, today)


def resolve_statement(session: Session, token: str, now: datetime | None = None):
    """``(state, row)`` for a statement token; row has the customer columns."""
    return _resolve(session, _STATEMENT_BY_TOKEN, token, now)


class InvoiceColumns:
    """An invoice row's columns as attributes (``view.number``), and what it still owes.

    Mixed into the views that wrap a row (the invoice page here, the console's invoice list).
    """

    row: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def amount_due(self) -> int:
        """Total minus what has been paid; nothing once void."""
        if self.row["voided_at"] is not None:
            return 0
        return self.row["total"] - self.row["amount_paid"]


@dataclass
class InvoiceView(InvoiceColumns):
    """Everything the invoice page and PDF show, as plain values."""

    row: Mapping[str, Any]
    lines: list[Mapping[str, Any]]
    status: str
    days_overdue: int


def invoice_view(session: Session, row: RowMapping, today: date) -> InvoiceView:
    """Load the lines of a resolved invoice and work out its status."""
    lines = session.execute(
        select(InvoiceLine.description, InvoiceLine.quantity, InvoiceLine.unit_amount,
               InvoiceLine.amount, InvoiceLine.position)
        .where(InvoiceLine.invoice_id == row["id"])
        .order_by(InvoiceLine.position)
    ).mappings().all()
    return _view(row, list(lines), today)


def _view(row: Mapping[str, Any], lines: list, today: date) -> InvoiceView:
    status, days = status_of(total=row["total"], amount_paid=row["amount_paid"],
                             voided=row["voided_at"] is not None, due_date=row["due_date"],
                             today=today)
    return InvoiceView(row, lines, status, days)


AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def aging_bucket(due_date: date, today: date) -> str:
    """Which aging bucket an open invoice falls into, by days past its due date."""
    days = (today - due_date).days
    if days <= 0:
        return "current"
    for upper, name in ((30, "1-30"), (60, "31-60"), (90, "61-90")):
        if days <= upper:
            return name
    return "90+"


@dataclass
class StatementLine:
    """One open invoice on a statement, with its own pay link (when it has a live one)."""

    invoice: InvoiceView
    bucket: str
    token: str | None


@dataclass
class StatementView:
    """A customer's open invoices, with totals and aging per currency."""

    customer: RowMapping
    lines: list[StatementLine]
    totals: dict[str, int] = field(default_factory=dict)
    aging: dict[str, dict[str, int]] = field(default_factory=dict)


def statement_view(
    session: Session, customer: RowMapping, key: tokens.LinkKey, today: date
) -> StatementView:
    """Open (unvoided, not fully paid) invoices of the customer, oldest due first."""
    now = utcnow()
    rows = session.execute(
        select(*INVOICE_COLUMNS, PayLink.nonce, PayLink.expires_at)
        .outerjoin(PayLink, and_(PayLink.invoice_id == Invoice.id, PayLink.revoked_at.is_(None)))
        .where(Invoice.customer_id == customer["customer_id"], Invoice.voided_at.is_(None),
               Invoice.amount_paid < Invoice.total)
        .order_by(Invoice.due_date, Invoice.id)
    ).mappings().all()
    view = StatementView(customer, [])
    aging: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(AGING_BUCKETS, 0))
    for row in rows:
        inv = InvoiceView(row, [], *status_of(
            total=row["total"], amount_paid=row["amount_paid"], voided=False,
            due_date=row["due_date"], today=today))
        live = row["nonce"] is not None and (row["expires_at"] is None or row["expires_at"] > now)
        bucket = aging_bucket(row["due_date"], today)
        view.lines.append(StatementLine(inv, bucket, key.token(row["nonce"]) if live else None))
        view.totals[row["currency"]] = view.totals.get(row["currency"], 0) + inv.amount_due
        aging[row["currency"]][bucket] += inv.amount_due
    view.aging = dict(aging)
    return view

"""The console's customer page: open invoices, payments, how the customer pays (average days to
pay, and how late), the statement link, and the notes staff keep about the customer.

The paying habits are computed in SQL from the ledger (see :data:`DAYS_TO_PAY_DEFINITION`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Integer, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from payments.console import notes
from payments.invoicing.models import Customer, Invoice
from payments.invoicing.status import status_of
from payments.ledger.models import LedgerEntry, Payment
from payments.ledger.states import LedgerKind
from payments.links import admin, tokens

MAX_OPEN = 200
MAX_PAYMENTS = 50
PAID_DATE_DEFINITION = (
    "Paid date: the UTC day of the ledger entry that last brought the amount paid up to the "
    "invoice total (a payment, or the last of several part payments; a reversed payment that "
    "was paid again counts from the second time).")
DAYS_TO_PAY_DEFINITION = ("Average days to pay: paid date − issue date, averaged over the "
                          "customer's fully paid invoices (void ones excluded).")
DAYS_LATE_DEFINITION = ("Average days late: paid date − due date, averaged over the fully "
                        "paid invoices that were paid after their due date.")
_TENTH = Decimal("0.1")


class days_from(FunctionElement):  # noqa: N801  (a SQL function, named like one)
    """``days_from(timestamp, day)``: whole days from ``day`` to the UTC day of ``timestamp``.

    Date arithmetic differs between the databases, so each gets its own SQL.
    """

    type = Integer()
    inherit_cache = True


@compiles(days_from, "postgresql")
def _days_postgresql(element, compiler, **kw) -> str:
    stamp, day = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(CAST(({stamp}) AT TIME ZONE 'UTC' AS DATE) - ({day}))"


@compiles(days_from, "sqlite")
def _days_sqlite(element, compiler, **kw) -> str:
    # SQLite keeps UTC timestamps as text; date() takes their day, julianday() counts days.
    stamp, day = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(julianday(date({stamp})) - julianday({day}) AS INTEGER)"


@dataclass(frozen=True)
class PayingHabits:
    """Averages in days (None without data), over ``paid`` fully paid invoices of which
    ``late`` were paid after their due date."""

    paid: int
    late: int
    days_to_pay: Decimal | None
    days_late: Decimal | None


def _average(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(_TENTH)


def paying_habits(session: Session, customer_id: int) -> PayingHabits:
    """See :data:`PAID_DATE_DEFINITION`, :data:`DAYS_TO_PAY_DEFINITION` and
    :data:`DAYS_LATE_DEFINITION`.

    The paid date comes from a running sum of each invoice's ``paid_delta`` in ledger order: the
    last entry at which the sum crossed from below the total to the total or above.
    """
    running = func.sum(LedgerEntry.paid_delta).over(partition_by=LedgerEntry.invoice_id,
                                                    order_by=LedgerEntry.id)
    steps = (select(LedgerEntry.invoice_id, LedgerEntry.created_at, LedgerEntry.paid_delta,
                    running.label("running"), Invoice.total)
             .join(Invoice, Invoice.id == LedgerEntry.invoice_id)
             .where(Invoice.customer_id == customer_id, Invoice.voided_at.is_(None),
                    Invoice.amount_paid >= Invoice.total, LedgerEntry.paid_delta != 0,
                    LedgerEntry.kind != LedgerKind.CREDIT_NOTE)  # as timing.paid_dates
             .subquery("steps"))
    crossed = and_(steps.c.running >= steps.c.total,
                   steps.c.running - steps.c.paid_delta < steps.c.total)
    paid_on = (select(steps.c.invoice_id, func.max(steps.c.created_at).label("paid_at"))
               .where(crossed).group_by(steps.c.invoice_id).subquery("paid_on"))
    to_pay = days_from(paid_on.c.paid_at, Invoice.issue_date)
    late = days_from(paid_on.c.paid_at, Invoice.due_date)
    is_late = late > 0
    row = session.execute(
        select(func.count(), func.sum(case((is_late, 1), else_=0)), func.avg(to_pay),
               func.avg(case((is_late, late), else_=None)))
        .select_from(paid_on).join(Invoice, Invoice.id == paid_on.c.invoice_id)).one()
    count, late_count, avg_pay, avg_late = row
    return PayingHabits(count, int(late_count or 0), _average(avg_pay), _average(avg_late))


@dataclass(frozen=True)
class OpenInvoice:
    """An open invoice on the customer page, with its status as of today."""

    invoice: Invoice
    status: str
    days_overdue: int


@dataclass
class CustomerDetail:
    """Everything the customer page shows."""

    customer: Customer
    open_invoices: list[OpenInvoice]
    open_truncated: bool
    open_totals: dict[str, int]
    invoice_count: int
    payments: Sequence[Payment]
    habits: PayingHabits
    statement: admin.LinkInfo
    notes: notes.NotesPage


def load(session: Session, customer_id: int, key: tokens.LinkKey, today: date,
         notes_cursor: int | None = None) -> CustomerDetail | None:
    """The customer page's content, or None when there is no such customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    open_rows, truncated = _open_invoices(session, customer_id, today)
    totals: dict[str, int] = {}
    for row in open_rows:
        totals[row.invoice.currency] = totals.get(row.invoice.currency, 0) \
            + row.invoice.amount_due
    return CustomerDetail(
        customer, open_rows, truncated, totals,
        session.scalar(select(func.count()).where(Invoice.customer_id == customer_id)) or 0,
        session.scalars(select(Payment).where(Payment.customer_id == customer_id)
                        .order_by(Payment.id.desc()).limit(MAX_PAYMENTS)).all(),
        paying_habits(session, customer_id),
        admin.info(session, key, admin.Target("statement", customer_id)),
        notes.page(session, customer_id, notes_cursor))


def _open_invoices(session: Session, customer_id: int,
                   today: date) -> tuple[list[OpenInvoice], bool]:
    """Unvoided invoices not fully paid, oldest due first (the customer/due-date index)."""
    found = session.scalars(
        select(Invoice).where(Invoice.customer_id == customer_id, Invoice.voided_at.is_(None),
                              Invoice.amount_paid < Invoice.total)
        .order_by(Invoice.due_date, Invoice.id).limit(MAX_OPEN + 1)).all()
    rows = [OpenInvoice(inv, *status_of(total=inv.total, amount_paid=inv.amount_paid,
                                        voided=False, due_date=inv.due_date, today=today))
            for inv in found[:MAX_OPEN]]
    return rows, len(found) > MAX_OPEN


"""Receivables KPIs of the AR staff console (aging, DSO, CEI), computed in SQL (aggregates
only, no rows loaded).

Money is integer minor units, one figure per currency: amounts of different currencies are never
added together. Ratios (DSO days, CEI percent) are :class:`~decimal.Decimal` rounded to 0.1, or
None when the formula would divide by zero. Dates are UTC calendar days: "as of D" means
everything recorded before midnight UTC at the end of D.

What was receivable at a date D is rebuilt from the append-only ledger: for each invoice issued by D
and not void at the end of the period, ``total − paid by D``, where paid by D is ``amount_paid``
(the ledger's sum, see :func:`payments.ledger.ledger.verify`) minus the ``paid_delta`` the ledger
recorded after D. Aging nets this per invoice and counts only positive balances (an overpaid invoice
is a credit, not negative AR; customer credits are not netted). DSO and CEI need only sums and skip
the per-invoice netting; they agree with aging unless an invoice was overpaid (an ``overpayment``
exception). Pending ACH is not paid, so it is still receivable.

Limits of the data model: totals are today's (the ERP may change a total before money moves,
and no history is kept); issue dates are the ERP's; an invoice void at the end of a period
counts nowhere in that period (void is treated as cancellation, not as a credit note).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, ColumnElement, case, cast, func, or_, select, union_all
from sqlalchemy.orm import Session

from payments.invoicing.models import Invoice
from payments.ledger.models import LedgerEntry

DAY = timedelta(days=1)
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
AGING_DEFINITION = ("Open amount due by days past the due date as of the day shown: current "
                    "(not yet due), 1–30, 31–60, 61–90 and over 90 days past due.")
DSO_FORMULA = ("DSO = accounts receivable at the end of the period ÷ credit sales in the "
               "period × days in the period")
CEI_FORMULA = ("CEI = (beginning receivables + credit sales − ending receivables) ÷ (beginning "
               "receivables + credit sales − ending current receivables) × 100")
_TENTH = Decimal("0.1")


def end_of(day: date) -> datetime:
    """The first instant (UTC) after ``day``: "as of ``day``" means everything before it."""
    return datetime.combine(day + DAY, time.min, UTC)


def _ratio(numerator: int, denominator: int, scale: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(numerator) * scale / Decimal(denominator)).quantize(_TENTH)


def currency_filter(column, currency: str | None) -> list[ColumnElement[bool]]:
    """``column == currency`` as a WHERE clause list; nothing for all currencies."""
    return [] if currency is None else [column == currency]


def _live(as_of: date, void_cutoff: datetime, currency: str | None) -> list:
    """Invoices issued by the end of ``as_of`` and not void at ``void_cutoff``."""
    return [Invoice.issue_date <= as_of,
            or_(Invoice.voided_at.is_(None), Invoice.voided_at >= void_cutoff),
            *currency_filter(Invoice.currency, currency)]


def _receivables(as_of: date, void_cutoff: datetime, currency: str | None):
    """Per invoice receivable at the end of ``as_of``: (currency, due_date, amount > 0).

    Two index-friendly halves: invoices unpaid now (the partial index ``amount_paid < total``),
    and invoices paid now that the ledger shows were still owed then (money paid after as_of).
    """
    paid_later = (select(LedgerEntry.invoice_id,
                         cast(func.sum(LedgerEntry.paid_delta), BigInteger).label("paid"))
                  .where(LedgerEntry.created_at >= end_of(as_of))
                  .group_by(LedgerEntry.invoice_id).subquery("paid_later"))
    owed = Invoice.total - Invoice.amount_paid + func.coalesce(paid_later.c.paid, 0)
    columns = (Invoice.currency, Invoice.due_date, owed.label("amount"))
    live = _live(as_of, void_cutoff, currency)
    unpaid = (select(*columns).select_from(Invoice)
              .outerjoin(paid_later, paid_later.c.invoice_id == Invoice.id)
              .where(Invoice.amount_paid < Invoice.total, *live))
    paid_since = (select(*columns).select_from(paid_later)
                  .join(Invoice, Invoice.id == paid_later.c.invoice_id)
                  .where(Invoice.amount_paid >= Invoice.total, *live))
    rows = union_all(unpaid, paid_since).subquery("receivable")
    return select(rows).where(rows.c.amount > 0).subquery("owed")


def _receivable_totals(session: Session, as_of: date, void_cutoff: datetime,
                       currency: str | None) -> dict[str, tuple[int, int]]:
    """Per currency: (all, current) receivables at the end of ``as_of``, not netted per
    invoice: open balances now plus every ``paid_delta`` the ledger recorded after ``as_of``
    (no per-invoice grouping of the ledger: half the cost of CEI's beginning balance)."""
    live = _live(as_of, void_cutoff, currency)
    open_now = (select(Invoice.currency, Invoice.due_date,
                       (Invoice.total - Invoice.amount_paid).label("amount"))
                .where(Invoice.amount_paid < Invoice.total, *live))
    paid_after = (select(Invoice.currency, Invoice.due_date, LedgerEntry.paid_delta)
                  .select_from(LedgerEntry).join(Invoice, Invoice.id == LedgerEntry.invoice_id)
                  .where(LedgerEntry.created_at >= end_of(as_of), LedgerEntry.paid_delta != 0,
                         *live))
    rows = union_all(open_now, paid_after).subquery("receivable")
    current = func.sum(case((rows.c.due_date >= as_of, rows.c.amount), else_=0))
    result = session.execute(select(rows.c.currency, func.sum(rows.c.amount), current)
                             .group_by(rows.c.currency))
    return {code: (int(total), int(now)) for code, total, now in result if total or now}


@dataclass(frozen=True)
class Bucket:
    """One aging bucket: ``label`` is one of :data:`BUCKETS`."""

    label: str
    amount: int
    count: int


@dataclass(frozen=True)
class Aging:
    """Open receivables of one currency by days past due (buckets in :data:`BUCKETS` order)."""

    currency: str
    buckets: tuple[Bucket, ...]

    @property
    def total(self) -> int:
        """All open receivables of the currency."""
        return sum(b.amount for b in self.buckets)

    @property
    def count(self) -> int:
        """How many invoices are open."""
        return sum(b.count for b in self.buckets)


def _bucket_of(due_date, as_of: date):
    # Bound date parameters for each boundary: no date arithmetic in SQL (portable).
    return case((due_date >= as_of, 0), (due_date >= as_of - 30 * DAY, 1),
                (due_date >= as_of - 60 * DAY, 2), (due_date >= as_of - 90 * DAY, 3), else_=4)


def aging(session: Session, as_of: date, currency: str | None = None) -> dict[str, Aging]:
    """Receivables at the end of ``as_of`` by bucket, per currency (sorted by code).

    Days past due = ``as_of − due_date``: current is ≤ 0 (due today counts as current),
    then 1–30, 31–60, 61–90, and 90+ meaning 91 days or more.
    """
    owed = _receivables(as_of, end_of(as_of), currency)
    # Group by a labelled column of a subquery: PostgreSQL cannot match a GROUP BY expression
    # carrying bind parameters to the same expression in the select list.
    tagged = select(owed.c.currency, _bucket_of(owed.c.due_date, as_of).label("bucket"),
                    owed.c.amount).subquery("tagged")
    rows = session.execute(
        select(tagged.c.currency, tagged.c.bucket, func.sum(tagged.c.amount), func.count())
        .group_by(tagged.c.currency, tagged.c.bucket))
    found: dict[str, dict[int, Bucket]] = {}
    for code, index, amount, count in rows:
        found.setdefault(code, {})[index] = Bucket(BUCKETS[index], int(amount), count)
    return {code: Aging(code, tuple(found[code].get(i, Bucket(label, 0, 0))
                                    for i, label in enumerate(BUCKETS)))
            for code in sorted(found)}


def credit_sales(session: Session, first: date, last: date,
                 currency: str | None = None) -> dict[str, int]:
    """Totals of invoices issued from ``first`` to ``last`` (inclusive), not void at the end
    of ``last``, per currency."""
    query = (
        select(Invoice.currency, func.sum(Invoice.total))
        .where(Invoice.issue_date >= first, Invoice.issue_date <= last,
               or_(Invoice.voided_at.is_(None), Invoice.voided_at >= end_of(last)),
               *currency_filter(Invoice.currency, currency))
        .group_by(Invoice.currency))
    return {code: int(total) for code, total in session.execute(query)}


@dataclass(frozen=True)
class Dso:
    """Days sales outstanding of one currency; ``days`` is None without credit sales."""

    currency: str
    receivables: int
    credit_sales: int
    period_days: int
    days: Decimal | None


def dso(session: Session, as_of: date, period_days: int = 90,
        currency: str | None = None) -> dict[str, Dso]:
    """Standard DSO (:data:`DSO_FORMULA`) over the ``period_days`` days ending with ``as_of``.

    Accounts receivable: the open balances at the end of ``as_of`` (see the module docstring).
    Credit sales: totals of the invoices issued in the period, excluding those void by its end.
    """
    first = as_of - (period_days - 1) * DAY
    receivable = _receivable_totals(session, as_of, end_of(as_of), currency)
    sales = credit_sales(session, first, as_of, currency)
    out = {}
    for code in sorted(receivable.keys() | sales.keys()):
        ar, sold = receivable.get(code, (0, 0))[0], sales.get(code, 0)
        out[code] = Dso(code, ar, sold, period_days, _ratio(ar, sold, period_days))
    return out


@dataclass(frozen=True)
class Cei:
    """Collection effectiveness index of one currency; ``percent`` is None when the
    denominator is not positive (nothing was collectable)."""

    currency: str
    beginning: int
    credit_sales: int
    ending: int
    ending_current: int
    percent: Decimal | None


def cei(session: Session, as_of: date, period_days: int = 30,
        currency: str | None = None) -> dict[str, Cei]:
    """CEI (:data:`CEI_FORMULA`) over the ``period_days`` days ending with ``as_of``.

    Beginning receivables are those at the end of the day before the period, ending ones at
    the end of ``as_of`` (current: not yet due on ``as_of``); credit sales as in :func:`dso`.
    An invoice void by the end of the period is left out of all four figures, so a void never
    looks like a collection. Approximations: see the module docstring.
    """
    start = as_of - period_days * DAY
    void_cutoff = end_of(as_of)
    beginning = _receivable_totals(session, start, void_cutoff, currency)
    ending = _receivable_totals(session, as_of, void_cutoff, currency)
    sales = credit_sales(session, start + DAY, as_of, currency)
    out = {}
    for code in sorted(beginning.keys() | ending.keys() | sales.keys()):
        begin, sold = beginning.get(code, (0, 0))[0], sales.get(code, 0)
        end, end_current = ending.get(code, (0, 0))
        out[code] = Cei(code, begin, sold, end, end_current,
                        _ratio(begin + sold - end, begin + sold - end_current, 100))
    return out

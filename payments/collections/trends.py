"""KPI trends per customer: is its paying getting worse?

Days to pay (paid date − issue date, the console's definition) averaged over the invoices paid
in the last :data:`PERIOD_DAYS` days (today included) against the :data:`PERIOD_DAYS` days
before; the average days late of the recent ones that were paid late; what is open and
overdue now, per currency (currencies are never added together). The early-warning ``flag``
goes up when the recent average is worse than the prior one by more than a threshold, and
only when both periods have at least :data:`MINIMUM_PAID` paid invoices: one slow invoice is
not a trend.

:func:`compute` answers for the whole book (or some customers) in two SQL aggregates; the
daily refresh (:mod:`payments.collections.refresh`) stores the result on each profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from payments.collections.models import CollectionProfile
from payments.collections.timing import paid_dates
from payments.console.customer_page import days_from
from payments.invoicing.models import Customer, Invoice

PERIOD_DAYS = 90
MINIMUM_PAID = 2
DEFAULT_THRESHOLD = 5  # days slower before the flag goes up
MAX_FLAGGED = 500  # the dashboard ranks at most this many flagged customers
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Trend:
    """One customer's trend as of ``as_of`` (ISO day). Averages are strings to 0.1 day (JSON
    safe, like :class:`payments.collections.timing.Learned`), None without invoices."""

    as_of: str
    recent_paid: int = 0  # paid in the last 90 days
    recent_days: str | None = None  # their average days to pay
    prior_paid: int = 0  # paid in the 90 days before
    prior_days: str | None = None
    late_paid: int = 0  # of the recent ones, paid after the due date
    late_days: str | None = None  # their average days late
    open_count: int = 0
    overdue_count: int = 0
    open_amounts: dict[str, int] = field(default_factory=dict)  # still owed, per currency
    overdue_amounts: dict[str, int] = field(default_factory=dict)
    change: str | None = None  # recent − prior days to pay, when both can be compared
    flag: bool = False

    def as_json(self) -> dict:
        """For :attr:`CollectionProfile.trend`."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict | None) -> Trend | None:
        """Back from :attr:`CollectionProfile.trend` (None: not computed yet)."""
        return cls(**value) if value else None

    def words(self) -> str:
        """The days-to-pay comparison in a sentence, with the warning when flagged."""
        counts = (f"{self.recent_paid} paid in the last {PERIOD_DAYS} days, "
                  f"{self.prior_paid} in the {PERIOD_DAYS} before")
        if self.change is None:
            return f"Too few paid invoices to compare ({counts}; {MINIMUM_PAID} each needed)."
        change = Decimal(self.change)
        how = ("the same" if change == 0 else
               f"{abs(change)} days {'slower' if change > 0 else 'faster'}")
        text = (f"Pays in {self.recent_days} days on average lately against "
                f"{self.prior_days} before: {how} ({counts}).")
        return text + (" Paying is getting worse." if self.flag else "")


@dataclass
class _Sums:
    """What the paid-invoice aggregate returns for one customer (exact day sums)."""

    recent: int = 0
    recent_days: int = 0
    prior: int = 0
    prior_days: int = 0
    late: int = 0
    late_days: int = 0


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _paid_sums(session: Session, today: date,
               customer_ids: Sequence[int] | None) -> dict[int, _Sums]:
    """Per customer: counts and day sums of the invoices paid in the two periods."""
    paid = paid_dates(customer_ids)
    recent = paid.c.paid_at >= _midnight(today - timedelta(days=PERIOD_DAYS - 1))
    to_pay = days_from(paid.c.paid_at, Invoice.issue_date)
    late = days_from(paid.c.paid_at, Invoice.due_date)
    is_late = and_(recent, late > 0)
    rows = session.execute(
        select(Invoice.customer_id,
               func.sum(case((recent, 1), else_=0)), func.sum(case((recent, to_pay), else_=0)),
               func.sum(case((recent, 0), else_=1)), func.sum(case((recent, 0), else_=to_pay)),
               func.sum(case((is_late, 1), else_=0)), func.sum(case((is_late, late), else_=0)))
        .join(paid, paid.c.invoice_id == Invoice.id)
        .where(paid.c.paid_at >= _midnight(today - timedelta(days=2 * PERIOD_DAYS - 1)),
               paid.c.paid_at < _midnight(today + timedelta(days=1)))
        .group_by(Invoice.customer_id))
    return {row[0]: _Sums(*(int(v or 0) for v in row[1:])) for row in rows}


def _owed(session: Session, today: date, customer_ids: Sequence[int] | None
          ) -> dict[int, dict[str, tuple[int, int, int, int]]]:
    """Per customer and currency: open count, amount still owed, overdue count and amount."""
    owed = Invoice.total - Invoice.amount_paid
    overdue = Invoice.due_date < today
    query = (select(Invoice.customer_id, Invoice.currency, func.count(), func.sum(owed),
                    func.sum(case((overdue, 1), else_=0)),
                    func.sum(case((overdue, owed), else_=0)))
             .where(Invoice.voided_at.is_(None), Invoice.amount_paid < Invoice.total)
             .group_by(Invoice.customer_id, Invoice.currency))
    if customer_ids is not None:
        query = query.where(Invoice.customer_id.in_(customer_ids))
    found: dict[int, dict[str, tuple[int, int, int, int]]] = {}
    for customer_id, currency, *figures in session.execute(query):
        found.setdefault(customer_id, {})[currency] = tuple(int(v or 0) for v in figures)
    return found


def _average(total: int, count: int) -> str | None:
    return str(_tenth(Fraction(total, count))) if count else None


def _tenth(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_TENTH,
                                                                             ROUND_HALF_UP)


def _trend(as_of: date, sums: _Sums | None, owed: dict[str, tuple[int, int, int, int]],
             threshold: int = DEFAULT_THRESHOLD) -> Trend:
    # The flag compares the exact averages; the stored ones are rounded for display.
    sums = sums or _Sums()
    change = None
    flag = False
    if sums.recent >= MINIMUM_PAID and sums.prior >= MINIMUM_PAID:
        exact = Fraction(sums.recent_days, sums.recent) - Fraction(sums.prior_days, sums.prior)
        change, flag = str(_tenth(exact)), exact > threshold
    return Trend(
        as_of.isoformat(), sums.recent, _average(sums.recent_days, sums.recent),
        sums.prior, _average(sums.prior_days, sums.prior),
        sums.late, _average(sums.late_days, sums.late),
        sum(f[0] for f in owed.values()), sum(f[2] for f in owed.values()),
        {code: f[1] for code, f in sorted(owed.items())},
        {code: f[3] for code, f in sorted(owed.items()) if f[2]}, change, flag)


def compute(session: Session, today: date, customer_ids: Sequence[int] | None = None,
            threshold: int = DEFAULT_THRESHOLD) -> dict[int, Trend]:
    """The trend of every customer with an invoice paid in the last two periods or one open
    now (or of ``customer_ids`` only), as of ``today`` (UTC days)."""
    sums = _paid_sums(session, today, customer_ids)
    owed = _owed(session, today, customer_ids)
    return {customer_id: _trend(today, sums.get(customer_id), owed.get(customer_id, {}),
                                  threshold)
            for customer_id in sorted(set(sums) | set(owed))}


@dataclass(frozen=True)
class Flagged:
    """A customer whose paying is getting worse, for the dashboard."""

    customer_id: int
    name: str
    trend: Trend


def flagged(session: Session, limit: int = 20) -> tuple[list[Flagged], int]:
    """The flagged customers, most worsened first (at most ``limit``), and how many there are
    in all (read through the partial index on ``trend_flag``)."""
    rows = session.execute(
        select(CollectionProfile.customer_id, Customer.name, CollectionProfile.trend)
        .join(Customer, Customer.id == CollectionProfile.customer_id)
        .where(CollectionProfile.trend_flag).limit(MAX_FLAGGED)).all()
    found = [Flagged(cid, name, trend) for cid, name, value in rows
             if (trend := Trend.from_json(value)) is not None]
    found.sort(key=lambda f: (-Decimal(f.trend.change or 0), f.name, f.customer_id))
    total = len(found) if len(rows) < MAX_FLAGGED else session.scalar(
        select(func.count()).where(CollectionProfile.trend_flag))
    return found[:limit], total

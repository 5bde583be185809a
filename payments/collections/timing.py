"""Learned timing: when this customer actually pays, from its own paid invoices.

:func:`learn` is the rule (pure, hand-checkable): over the customer's last :data:`WINDOW`
paid invoices, newest first, each weighs ``WINDOW − rank`` (the newest 12, the next 11, …:
recent habits count more, an old one still counts); the weighted median of days paid after
due is what the customer "usually" does — a median, so one invoice paid 90 days late after a
dispute does not move it. It needs :data:`MINIMUM` invoices, else the policy's own timing
applies. The amount-weighted mean and the weighted quartiles go with it, for staff to judge.

:func:`paid_history` reads the facts from the ledger: an invoice's paid day is the day of the
entry that last brought its amount paid up to its total (the console's definition).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from payments.console.customer_page import days_from
from payments.invoicing.models import Invoice
from payments.ledger.models import LedgerEntry
from payments.ledger.states import LedgerKind

WINDOW = 12
MINIMUM = 3
USUAL = "usual"  # the field of Learned.as_json() SQL reads (the tick's prefilter, worklist)
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Paid:
    """One fully paid invoice: ``days_late`` is paid day − due day (negative: paid early)."""

    invoice_id: int
    paid_on: date
    days_late: int
    amount: int


@dataclass(frozen=True)
class Learned:
    """What the customer usually does, from ``count`` invoices (``count`` < :data:`MINIMUM`:
    not enough to learn from, and ``usual`` is None)."""

    count: int
    usual: int | None  # recency-weighted median of days late
    mean: str | None  # amount-weighted mean of days late, to 0.1 (a string: JSON-safe)
    low: int | None  # weighted first quartile
    high: int | None  # weighted third quartile

    @property
    def shift(self) -> int:
        """Days the overdue steps move by: the usual lateness, never earlier than planned."""
        return max(self.usual or 0, 0)

    def as_json(self) -> dict:
        """For :attr:`CollectionProfile.learned`."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict | None) -> Learned:
        """Back from :attr:`CollectionProfile.learned` (None: nothing learned yet)."""
        return cls(**value) if value else NOTHING

    def words(self) -> str:
        """In a sentence: "usually pays 15 days after due (8 invoices, 12–18 days)"."""
        return _words(self)


@lru_cache(maxsize=4096)
def _words(learned: Learned) -> str:
    # The planner says it for every overdue step of every invoice of the customer.
    if learned.usual is None:
        return (f"not enough paid invoices to learn from ({learned.count} of {MINIMUM})"
                if learned.count else "no paid invoices to learn from yet")
    days = abs(learned.usual)
    when = ("on the due date" if learned.usual == 0 else
            f"{days} day{'s' * (days != 1)} {'after' if learned.usual > 0 else 'before'} due")
    return (f"usually pays {when} (from {learned.count} paid invoices; middle half "
            f"{learned.low} to {learned.high} days, amount-weighted mean {learned.mean})")


NOTHING = Learned(0, None, None, None, None)


def learn(history: Iterable[Paid]) -> Learned:
    """The customer's usual lateness from its paid invoices (any order; see the module)."""
    recent = sorted(history, key=lambda p: (p.paid_on, p.invoice_id), reverse=True)[:WINDOW]
    if len(recent) < MINIMUM:
        return Learned(len(recent), None, None, None, None)
    weighted = [(p.days_late, WINDOW - rank) for rank, p in enumerate(recent)]
    amount = sum(p.amount for p in recent)
    mean = (Decimal(sum(p.days_late * p.amount for p in recent)) / amount if amount
            else Decimal(sum(p.days_late for p in recent)) / len(recent))
    return Learned(len(recent), _quantile(weighted, Decimal("0.5")),
                   str(mean.quantize(_TENTH, ROUND_HALF_UP)),
                   _quantile(weighted, Decimal("0.25")), _quantile(weighted, Decimal("0.75")))


def _quantile(weighted: Sequence[tuple[int, int]], q: Decimal) -> int:
    """The smallest value whose cumulative weight reaches ``q`` of the total (the lower
    weighted quantile: always one of the values, never an interpolation)."""
    ordered = sorted(weighted)
    total = sum(weight for _value, weight in ordered)
    running = 0
    for value, weight in ordered:
        running += weight
        if running >= q * total:
            return value
    return ordered[-1][0]


def paid_dates(customer_ids: Sequence[int] | None = None) -> Subquery:
    """(invoice_id, paid_at) of every fully paid, unvoided invoice (of some customers): the
    moment of the ledger entry that last brought its amount paid up to its total (the
    console's paid date)."""
    running = func.sum(LedgerEntry.paid_delta).over(partition_by=LedgerEntry.invoice_id,
                                                    order_by=LedgerEntry.id)
    # A credit note settles a dispute, not a payment: an invoice it closed was never paid in
    # full, and says nothing of when the customer pays.
    scope = [Invoice.voided_at.is_(None), Invoice.amount_paid >= Invoice.total,
             Invoice.total > 0, LedgerEntry.paid_delta != 0,
             LedgerEntry.kind != LedgerKind.CREDIT_NOTE]
    if customer_ids is not None:
        scope.append(Invoice.customer_id.in_(customer_ids))
    steps = (select(LedgerEntry.invoice_id, LedgerEntry.created_at, LedgerEntry.paid_delta,
                    running.label("running"), Invoice.total)
             .join(Invoice, Invoice.id == LedgerEntry.invoice_id).where(*scope)
             .subquery("steps"))
    crossed = and_(steps.c.running >= steps.c.total,
                   steps.c.running - steps.c.paid_delta < steps.c.total)
    return (select(steps.c.invoice_id, func.max(steps.c.created_at).label("paid_at"))
            .where(crossed).group_by(steps.c.invoice_id).subquery("paid_on"))


def paid_history(session: Session, customer_ids: Sequence[int] | None = None,
                 per_customer: int = WINDOW) -> dict[int, list[Paid]]:
    """Each customer's fully paid invoices (void ones excluded), newest paid first, at most
    ``per_customer`` each; all customers when ``customer_ids`` is None."""
    paid_on = paid_dates(customer_ids)
    rows = session.execute(
        select(Invoice.customer_id, Invoice.id, paid_on.c.paid_at,
               days_from(paid_on.c.paid_at, Invoice.due_date), Invoice.total)
        .join(paid_on, paid_on.c.invoice_id == Invoice.id)
        .order_by(Invoice.customer_id, paid_on.c.paid_at.desc(), Invoice.id.desc()))
    found: dict[int, list[Paid]] = {}
    for customer_id, invoice_id, paid_at, late, total in rows:
        mine = found.setdefault(customer_id, [])
        if len(mine) < per_customer:
            mine.append(Paid(invoice_id, paid_at.astimezone(UTC).date(), int(late), int(total)))
    return found

"""The worklist (``/staff/worklist``): who to contact today, and why.

A customer is on it for at least one reason:

- an open task the reminder tick left for staff: a ``call`` to make, a ``letter`` to print and
  mail, an ``escalation`` to hand on (each with the tick's words for why);
- a ``broken promise`` nobody has followed up yet (logging a call, or recording a new promise,
  follows it up);
- ``paying worse``: the KPI trend's early-warning flag on its collection profile.

Ranking, most urgent first:

1. a broken promise or an escalation: the customer's word failed, or the schedule ran out;
2. days beyond usual, most first: the most days any open invoice is overdue, minus the
   customer's usual lateness (its learned timing, never counted below 0; 0 when not learned).
   Ten days overdue is no news from a customer that always pays at fifteen; from one that pays
   on the due date it is. A customer with nothing overdue comes after every overdue one;
3. amount at risk, most first: its largest overdue balance in any one currency, in major
   units (there are no exchange rates here: 1,000 JPY counts as 1,000);
4. name, then id, so the order is stable (at the cut-off of :data:`LIMIT` rows, ties of
   1–3 are settled by id: names are read for the rows shown only).

Built for a large book (100k open invoices of 10k customers): the reasons come from small
partial indexes (``ix_reminder_contacts_open``, ``ix_collection_profiles_flagged``) and the
broken promises (``ix_promises_broken``); the figures are read only for the customers that
have a reason (``ix_invoices_open_by_customer``, from the index alone). Six queries, however
many rows: three to rank, three for the :data:`LIMIT` rows shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, literal, select, text, union, union_all
from sqlalchemy.orm import Session

from payments.collections.calls import TASK_CHANNELS
from payments.collections.log_models import Contact
from payments.collections.models import CollectionProfile, Promise
from payments.collections.timing import USUAL
from payments.invoicing.models import Customer, Invoice
from payments.money import exponent

LIMIT = 50  # a morning's calls; the list refills as tasks are done
TASK_REASONS = {"call": "call", "letter": "letter", "escalate": "escalation"}
BROKEN, WORSE = "broken promise", "paying worse"


@dataclass(frozen=True)
class Task:
    """An open task of the customer's: ``channel`` call, letter or escalate."""

    id: int
    channel: str
    day: date
    why: str


@dataclass(frozen=True)
class BrokenPromise:
    """A promise the customer did not keep, not followed up yet."""

    id: int
    amount: int
    currency: str
    promised_on: date


@dataclass(frozen=True)
class Row:
    """One customer to contact: its reasons (short words), tasks and broken promises, what is
    overdue per currency (minor units), and its lateness against its usual."""

    customer_id: int
    name: str
    reasons: tuple[str, ...]
    tasks: tuple[Task, ...] = ()
    broken: tuple[BrokenPromise, ...] = ()
    overdue: dict[str, int] = field(default_factory=dict)
    days_overdue: int | None = None  # the most days any open invoice is past due
    usual: int | None = None  # learned days late; None: not learned
    beyond_usual: int | None = None  # days_overdue − max(usual, 0); None: nothing overdue

    @property
    def urgent(self) -> bool:
        """A broken promise or an escalation: first on the list."""
        return bool(self.broken) or any(t.channel == "escalate" for t in self.tasks)


@dataclass(frozen=True)
class Worklist:
    """The ranked rows (at most the limit) and how many customers have a reason in all."""

    rows: tuple[Row, ...]
    total: int


def load(session: Session, today: date, limit: int = LIMIT) -> Worklist:
    """Who to contact on ``today`` (a UTC day), ranked (see the module).

    Ranking needs only small figures of every candidate (its reasons' kinds, usual lateness,
    what is overdue); names, tasks with their words and promises are read for the rows shown
    only. The candidates stay in the database (a subquery), never a long list of ids."""
    kinds = _kinds(session)
    figures = _figures(session, today)
    keys = sorted((_key(cid, kinds[cid], figures.get(cid)), cid) for cid in kinds)
    shown = [cid for _key_, cid in keys[:limit]]
    tasks, broken = _tasks(session, shown), _broken(session, shown)
    names = dict(session.execute(select(Customer.id, Customer.name)
                                 .where(Customer.id.in_(shown))).all()) if shown else {}
    rows = []
    for cid in shown:
        usual, flagged, overdue = figures.get(cid, (None, False, ({}, None)))
        rows.append(_row(cid, names[cid], usual, flagged, tasks.get(cid, ()),
                         broken.get(cid, ()), overdue))
    rows.sort(key=rank_key)
    return Worklist(tuple(rows), len(kinds))


def rank_key(row: Row) -> tuple:
    """The sort key of the ranking (see the module)."""
    beyond = row.beyond_usual
    return (not row.urgent, beyond is None, -(beyond or 0), -_at_risk(row.overdue),
            row.name.casefold(), row.customer_id)


def _at_risk(overdue: dict[str, int]) -> int:
    """The largest overdue balance in any one currency, in ten-thousandths of its major unit
    (an integer: every ISO 4217 exponent is at most 4), so yen and dollars compare as
    amounts of their own unit."""
    return max((amount * 10 ** (4 - exponent(currency)) for currency, amount in overdue.items()),
               default=0)


def _key(cid: int, kinds: set[str], figures) -> tuple:
    """The ranking's key before names are read (ties on the name are settled after)."""
    usual, _flagged, (balances, days) = figures or (None, False, ({}, None))
    beyond = None if days is None else days - max(usual or 0, 0)
    urgent = bool(kinds & {"broken", "escalate"})
    return (not urgent, beyond is None, -(beyond or 0), -_at_risk(balances), cid)


# The partial indexes' own conditions, written as they are: SQLite uses a partial index only
# when the query states its condition literally (bound parameters in an IN, or ``= 1`` for a
# boolean, and it scans the table instead).
_LIVE_CONTACT = text("reminder_contacts.status IN ('open', 'queued')")
_FLAGGED = text("collection_profiles.trend_flag")


def _open_tasks():
    # The second status term narrows the index's rows to tasks (emails are "queued").
    return (_LIVE_CONTACT, Contact.status == "open", Contact.channel.in_(TASK_CHANNELS))


def _broken_promises():
    # ix_promises_broken's own condition, literally (see above).
    return (text("promises.status = 'broken' AND promises.followed_up_at IS NULL"),)


def _candidates():
    """Every customer with a reason, as a subquery."""
    return union(select(Contact.customer_id).where(*_open_tasks()),
                 select(Promise.customer_id).where(*_broken_promises()),
                 select(CollectionProfile.customer_id).where(_FLAGGED)).subquery()


def _kinds(session: Session) -> dict[int, set[str]]:
    """Each candidate's kinds of reason: task channels, "broken", "worse"."""
    found: dict[int, set[str]] = {}
    query = union_all(
        select(Contact.customer_id, Contact.channel).where(*_open_tasks()),
        select(Promise.customer_id, literal("broken")).where(*_broken_promises()),
        select(CollectionProfile.customer_id, literal("worse")).where(_FLAGGED))
    # Core rows (the connection, not the ORM session): thousands of plain tuples.
    for cid, kind in session.connection().execute(query):
        found.setdefault(cid, set()).add(kind)
    return found


def _tasks(session: Session, shown: list[int]) -> dict[int, tuple[Task, ...]]:
    if not shown:
        return {}
    rows = session.execute(
        select(Contact.customer_id, Contact.id, Contact.channel, Contact.day, Contact.why)
        .where(*_open_tasks(), Contact.customer_id.in_(shown)))
    tasks = sorted((cid, day, tid, channel, why) for cid, tid, channel, day, why in rows)
    return _grouped((cid, Task(tid, channel, day, why)) for cid, day, tid, channel, why in tasks)


def _broken(session: Session, shown: list[int]) -> dict[int, tuple[BrokenPromise, ...]]:
    if not shown:
        return {}
    rows = session.execute(
        select(Promise.customer_id, Promise.id, Promise.amount, Promise.currency,
               Promise.promised_on)
        .where(*_broken_promises(), Promise.customer_id.in_(shown)))
    return _grouped((cid, BrokenPromise(pid, int(amount), currency, on))
                    for cid, on, pid, amount, currency in
                    sorted((cid, on, pid, amount, currency)
                           for cid, pid, amount, currency, on in rows))


def _grouped(pairs: Iterable[tuple[int, object]]) -> dict:
    found: dict[int, list] = {}
    for key, value in pairs:
        found.setdefault(key, []).append(value)
    return {key: tuple(values) for key, values in found.items()}


def _figures(session: Session, today: date
             ) -> dict[int, tuple[int | None, bool, tuple[dict[str, int], int | None]]]:
    """Per candidate: usual lateness, trend flag, and (overdue per currency, most days
    overdue)."""
    ids = select(_candidates().c[0])
    # Only the "usual" of Learned.as_json(), read in SQL: decoding the whole JSON of
    # thousands of profiles took longer than the query itself.
    usual = CollectionProfile.learned[USUAL].as_integer()
    connection = session.connection()  # Core rows: thousands of plain tuples
    found = {cid: (days, bool(flag), ({}, None)) for cid, days, flag in connection.execute(
        select(CollectionProfile.customer_id, usual, CollectionProfile.trend_flag)
        .where(CollectionProfile.customer_id.in_(ids)))}
    rows = connection.execute(
        select(Invoice.customer_id, Invoice.currency,
               func.sum(Invoice.total - Invoice.amount_paid), func.min(Invoice.due_date))
        .where(Invoice.customer_id.in_(ids), Invoice.due_date < today,
               Invoice.voided_at.is_(None), Invoice.amount_paid < Invoice.total)
        .group_by(Invoice.customer_id, Invoice.currency))
    for cid, currency, amount, oldest in rows:
        days, flag, (balances, most) = found.get(cid, (None, False, ({}, None)))
        balances[currency] = int(amount)
        found[cid] = (days, flag, (balances, max(most or 0, (today - oldest).days)))
    return found


def _row(customer_id: int, name: str, usual: int | None, flagged: bool,
         tasks: tuple[Task, ...], broken: tuple[BrokenPromise, ...],
         overdue: tuple[dict[str, int], int | None]) -> Row:
    reasons = [BROKEN] if broken else []
    reasons += [TASK_REASONS[c] for c in TASK_CHANNELS if any(t.channel == c for t in tasks)]
    if flagged:
        reasons.append(WORSE)
    balances, days = overdue
    beyond = None if days is None else days - max(usual or 0, 0)
    return Row(customer_id, name, tuple(reasons), tasks, broken, dict(sorted(balances.items())),
               days, usual, beyond)

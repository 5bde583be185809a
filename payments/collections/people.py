"""Reading the book for the planner: the open invoices still to chase, and each of their
customers as a :class:`~payments.collections.planner.Person` (settings, windows, learned
timing, promises) — a bounded number of queries however many customers there are."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from functools import lru_cache

from sqlalchemy import Date, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from payments.collections import policy, windows
from payments.collections.models import CollectionProfile, ContactWindow, InvoiceChase, Promise
from payments.collections.planner import Chased, Pause, Person
from payments.collections.timing import USUAL, Learned
from payments.db import among
from payments.invoicing.models import Customer, Invoice

CHUNK = 2000  # ids per IN (…): well under every database's limit on bound parameters
PROMISE_MEMORY = timedelta(days=90)  # older promises no longer move anything


@dataclass(frozen=True)
class Defaults:
    """What a customer without its own settings gets."""

    zone: str = "UTC"


def open_invoices(session: Session, book: policy.Book, until: date,
                  customer_id: int | None = None) -> Iterator[Chased]:
    """Unvoided invoices not fully paid whose next step could be due by ``until`` (Core rows:
    a large book streams through).

    "Could be": the due date plus the next offset after the invoice's last done step, in any
    policy, plus the customer's learned shift for an overdue step, is on or before ``until``
    (a day later, for time zones ahead of UTC). Windows and pauses only move steps later, so
    nothing due is left out, and an invoice with nothing due soon costs no Python at all.
    """
    offsets = sorted({s.offset for group in (book.default, *book.by_id.values()) for s in group})
    if not offsets:
        return
    query = (select(Invoice.id, Invoice.customer_id, Invoice.number, Invoice.currency,
                    Invoice.issue_date, Invoice.due_date, Invoice.total - Invoice.amount_paid,
                    InvoiceChase.last_offset, func.coalesce(InvoiceChase.do_not_chase, False))
             .outerjoin(InvoiceChase, InvoiceChase.invoice_id == Invoice.id)
             .outerjoin(CollectionProfile, CollectionProfile.customer_id == Invoice.customer_id)
             .where(Invoice.voided_at.is_(None), Invoice.amount_paid < Invoice.total,
                    Invoice.due_date <= until + timedelta(days=1 - offsets[0]),
                    _next_step_due(offsets, until + timedelta(days=1))))
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    for row in session.execute(query.execution_options(yield_per=5000)):
        yield Chased(*row[:6], int(row[6]), row[7], bool(row[8]))


def _next_step_due(offsets: Sequence[int], until: date):
    """SQL: the step after the invoice's last done one is due by ``until`` (before windows
    and pauses move it; overdue steps after the learned shift, as the planner has it)."""
    last = InvoiceChase.last_offset
    usual = CollectionProfile.learned[USUAL].as_integer()
    shift = case((CollectionProfile.learn_timing & (usual > 0), usual), else_=0)
    shifted = add_days(Invoice.due_date, shift)
    branches = []
    for k, offset in enumerate(offsets):
        after_previous = (last.is_(None) | (last < offset)) if k == 0 else (
            (last >= offsets[k - 1]) & (last < offset))
        due = shifted if offset > 0 else Invoice.due_date
        branches.append(after_previous & (due <= until - timedelta(days=offset)))
    return or_(*branches)


class add_days(FunctionElement):  # noqa: N801  (a SQL function, named like one)
    """``add_days(day, n)``: the date ``n`` days after ``day`` (each database its own SQL)."""

    type = Date()
    inherit_cache = True


@compiles(add_days, "postgresql")
def _add_days_postgresql(element, compiler, **kw) -> str:
    day, days = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(({day}) + ({days}))"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element, compiler, **kw) -> str:
    day, days = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"date({day}, '+' || ({days}) || ' days')"


def people(session: Session, customer_ids: Iterable[int], book: policy.Book,
           defaults: Defaults, today: date) -> dict[int, Person]:
    """Each customer as the planner sees it."""
    found: dict[int, Person] = {}
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), CHUNK):
        found |= _chunk(session, ids[start:start + CHUNK], book, defaults, today)
    return found


_PROFILE = (CollectionProfile.customer_id, CollectionProfile.policy_id,
            CollectionProfile.do_not_chase, CollectionProfile.learn_timing,
            CollectionProfile.preferred_channel, CollectionProfile.contact_emails,
            CollectionProfile.time_zone, CollectionProfile.hours_start,
            CollectionProfile.hours_end, CollectionProfile.business_days,
            CollectionProfile.learned)


def _chunk(session: Session, ids: Sequence[int], book: policy.Book, defaults: Defaults,
           today: date) -> dict[int, Person]:
    # Core rows, not ORM objects: a tick reads thousands of customers.
    profiles = {row.customer_id: row for row in session.execute(
        select(*_PROFILE).where(among(session, CollectionProfile.customer_id, ids)))}
    spans: dict[int, list[windows.Window]] = {}
    for cid, kind, start, end, label in session.execute(
            select(ContactWindow.customer_id, ContactWindow.kind, ContactWindow.start,
                   ContactWindow.end, ContactWindow.label)
            .where(among(session, ContactWindow.customer_id, ids))):
        spans.setdefault(cid, []).append(windows.parse_window(kind, start, end, label))
    pauses = promise_pauses(session, ids, today)
    rows = session.execute(select(Customer.id, Customer.name, Customer.email)
                           .where(among(session, Customer.id, ids)))
    return {cid: person(cid, name, email, profiles.get(cid), book, defaults,
                        tuple(spans.get(cid, ())), pauses.get(cid, ()))
            for cid, name, email in rows}


def person(customer_id: int, name: str, email: str | None, profile, book: policy.Book,
           defaults: Defaults, spans: tuple[windows.Window, ...] = (),
           pauses: tuple[Pause, ...] = ()) -> Person:
    """One customer from its row and (optional) profile (a row with the profile's columns,
    or the model itself)."""
    if profile is None:
        return Person(customer_id, name, book.default, _rules(defaults.zone, 9, 17, "12345",
                                                              spans),
                      (email,) if email else (), pauses=pauses)
    rules = _rules(profile.time_zone or defaults.zone, profile.hours_start, profile.hours_end,
                   profile.business_days, spans)
    emails = tuple(a.strip() for a in (profile.contact_emails or "").split(",") if a.strip())
    return Person(customer_id, name, book.steps(profile.policy_id), rules,
                  emails or ((email,) if email else ()), Learned.from_json(profile.learned),
                  profile.learn_timing, profile.preferred_channel, profile.do_not_chase, pauses)


@lru_cache(maxsize=4096)
def _rules(zone_name: str, start: int, end: int, days: str,
           spans: tuple[windows.Window, ...]) -> windows.Rules:
    # Most customers share a handful of settings: one Rules each, and its caches with it.
    return windows.Rules(windows.zone(zone_name), (start, end), windows.business_days(days),
                         spans)


def promise_pauses(session: Session, ids: Sequence[int],
                   today: date) -> dict[int, tuple[Pause, ...]]:
    """Pauses from the customers' recent promises (kept and broken ones too: the steps they
    held back resume after the promised day rather than being skipped as stale)."""
    since = today - PROMISE_MEMORY
    found: dict[int, list[Pause]] = {}
    for p in session.scalars(select(Promise).where(
            among(session, Promise.customer_id, ids), Promise.status != "canceled",
            Promise.promised_on >= since)):
        first = p.created_at.astimezone(UTC).date()
        found.setdefault(p.customer_id, []).append(Pause(first, p.promised_on, p.words()))
    return {cid: tuple(sorted(ps, key=lambda p: p.first)) for cid, ps in found.items()}

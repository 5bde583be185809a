"""Reading the book for the planner: the open invoices still to chase, and each of their
customers as a :class:`~payments.collections.planner.Person` (settings, windows, learned
timing, promises) — a bounded number of queries however many customers there are."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments.collections import policy, windows
from payments.collections.models import CollectionProfile, ContactWindow, InvoiceChase, Promise
from payments.collections.planner import Chased, Pause, Person
from payments.collections.timing import Learned
from payments.invoicing.models import Customer, Invoice
from payments.money import format_money

CHUNK = 2000  # ids per IN (…): well under every database's limit on bound parameters
PROMISE_MEMORY = timedelta(days=90)  # older promises no longer move anything


@dataclass(frozen=True)
class Defaults:
    """What a customer without its own settings gets."""

    zone: str = "UTC"


def open_invoices(session: Session, book: policy.Book, today: date,
                  customer_id: int | None = None) -> Iterator[Chased]:
    """Unvoided invoices not fully paid, due soon enough for a courtesy step, whose last step
    done is not the policies' last (Core rows: a large book streams through)."""
    steps = [s for group in (book.default, *book.by_id.values()) for s in group]
    lead = max((-s.offset for s in steps), default=0)
    last = max((s.offset for s in steps), default=0)
    done = func.coalesce(InvoiceChase.last_offset, policy.MIN_OFFSET - 1)
    query = (select(Invoice.id, Invoice.customer_id, Invoice.number, Invoice.currency,
                    Invoice.issue_date, Invoice.due_date, Invoice.total - Invoice.amount_paid,
                    InvoiceChase.last_offset, func.coalesce(InvoiceChase.do_not_chase, False))
             .outerjoin(InvoiceChase, InvoiceChase.invoice_id == Invoice.id)
             .where(Invoice.voided_at.is_(None), Invoice.amount_paid < Invoice.total,
                    Invoice.due_date <= today + timedelta(days=max(lead, 0) + 1),
                    done < last))
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    for row in session.execute(query.execution_options(yield_per=5000)):
        yield Chased(*row[:6], int(row[6]), row[7], bool(row[8]))


def people(session: Session, customer_ids: Iterable[int], book: policy.Book,
           defaults: Defaults, today: date) -> dict[int, Person]:
    """Each customer as the planner sees it."""
    found: dict[int, Person] = {}
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), CHUNK):
        found |= _chunk(session, ids[start:start + CHUNK], book, defaults, today)
    return found


def _chunk(session: Session, ids: Sequence[int], book: policy.Book, defaults: Defaults,
           today: date) -> dict[int, Person]:
    rows = session.execute(select(Customer.id, Customer.name, Customer.email, CollectionProfile)
                           .outerjoin(CollectionProfile,
                                      CollectionProfile.customer_id == Customer.id)
                           .where(Customer.id.in_(ids)))
    spans: dict[int, list[windows.Window]] = {}
    for w in session.scalars(select(ContactWindow).where(ContactWindow.customer_id.in_(ids))):
        spans.setdefault(w.customer_id, []).append(
            windows.parse_window(w.kind, w.start, w.end, w.label))
    pauses = promise_pauses(session, ids, today)
    return {cid: person(cid, name, email, profile, book, defaults, tuple(spans.get(cid, ())),
                        pauses.get(cid, ()))
            for cid, name, email, profile in rows}


def person(customer_id: int, name: str, email: str | None, profile: CollectionProfile | None,
           book: policy.Book, defaults: Defaults, spans: tuple[windows.Window, ...] = (),
           pauses: tuple[Pause, ...] = ()) -> Person:
    """One customer from its row and (optional) profile."""
    if profile is None:
        return Person(customer_id, name, book.default, windows.Rules(windows.zone(defaults.zone),
                      windows=spans), (email,) if email else (), pauses=pauses)
    rules = windows.Rules(windows.zone(profile.time_zone or defaults.zone),
                          (profile.hours_start, profile.hours_end),
                          windows.business_days(profile.business_days), spans)
    emails = tuple(a.strip() for a in (profile.contact_emails or "").split(",") if a.strip())
    return Person(customer_id, name, book.steps(profile.policy_id), rules,
                  emails or ((email,) if email else ()), Learned.from_json(profile.learned),
                  profile.learn_timing, profile.preferred_channel, profile.do_not_chase, pauses)


def promise_pauses(session: Session, ids: Sequence[int],
                   today: date) -> dict[int, tuple[Pause, ...]]:
    """Pauses from the customers' recent promises (kept and broken ones too: the steps they
    held back resume after the promised day rather than being skipped as stale)."""
    since = today - PROMISE_MEMORY
    found: dict[int, list[Pause]] = {}
    for p in session.scalars(select(Promise).where(
            Promise.customer_id.in_(ids), Promise.status != "canceled",
            Promise.promised_on >= since)):
        first = p.created_at.astimezone(UTC).date()
        reason = (f"a promise to pay {format_money(p.amount, p.currency)} by "
                  f"{p.promised_on.isoformat()}")
        found.setdefault(p.customer_id, []).append(Pause(first, p.promised_on, reason))
    return {cid: tuple(sorted(ps, key=lambda p: p.first)) for cid, ps in found.items()}

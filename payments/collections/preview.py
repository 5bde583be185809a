"""Every contact the reminders would make in the next days — to whom, when, and why — without
sending anything (``portal reminders preview`` and the console's preview page).

It asks the same planner as the tick, as if nobody paid meanwhile: a step already due waits
for the customer's next contact moment, a step that would by then be stale or pointless is
left out (the tick would skip it), several steps of one invoice on one day are one, and a
customer's steps on one day and channel are one contact, as the tick writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from payments.collections import people, policy
from payments.collections.planner import Chased, Person, Planned, pointless, schedule
from payments.collections.tick import Settings
from payments.collections.windows import WindowError, next_contact


@dataclass(frozen=True)
class Step:
    """One invoice's step in an upcoming contact."""

    invoice: Chased
    planned: Planned
    why: str


@dataclass
class Upcoming:
    """One contact the tick would make: a customer, a channel, a moment."""

    at: datetime
    customer_id: int
    customer: str
    channel: str
    to: tuple[str, ...]
    steps: list[Step] = field(default_factory=list)

    @property
    def day(self):
        """The moment's day in UTC (the console shows the customer's local time too)."""
        return self.at.date()


def upcoming(session: Session, settings: Settings, now: datetime, days: int,
             customer_id: int | None = None, limit: int | None = None) -> list[Upcoming]:
    """The contacts of the next ``days`` days, soonest first (all customers, or one)."""
    book = policy.book(session)
    end = now + timedelta(days=days)
    invoices: dict[int, list[Chased]] = {}
    for chased in people.open_invoices(session, book, end.date(), customer_id):
        invoices.setdefault(chased.customer_id, []).append(chased)
    persons = people.people(session, invoices, book, settings.defaults, now.date())
    found: list[Upcoming] = []
    for cid, chased in invoices.items():
        person = persons[cid]
        if person.do_not_chase:
            continue
        try:
            found += _contacts(person, chased, now, end, settings.stale_days)
        except WindowError:
            continue  # windows leaving no contact day: the customer is never contacted
    found.sort(key=lambda u: (u.at, u.customer, u.channel))
    return found[:limit] if limit is not None else found


def _contacts(person: Person, chased: Iterable[Chased], now: datetime, end: datetime,
              stale_days: int) -> list[Upcoming]:
    by_key: dict[tuple, Upcoming] = {}
    for invoice in chased:
        if invoice.do_not_chase:
            continue
        for planned, moment in _steps(person, invoice, now, end, stale_days):
            key = (planned.channel, person.rules.local(moment).date())
            contact = by_key.setdefault(key, Upcoming(
                moment, person.customer_id, person.name, planned.channel,
                person.emails if planned.channel == "email" else ()))
            contact.at = min(contact.at, moment)
            contact.steps.append(Step(invoice, planned, planned.words()))
    return list(by_key.values())


def _steps(person: Person, invoice: Chased, now: datetime, end: datetime,
           stale_days: int) -> list[tuple[Planned, datetime]]:
    """The invoice's steps that would be acted on before ``end``, with their moments (the
    latest of an invoice's steps due at one moment: the tick supersedes the others)."""
    by_moment: dict[datetime, tuple[Planned, datetime]] = {}
    for planned in schedule(person, invoice, until=person.rules.local(end).date()):
        if planned.at > end:
            break
        moment = planned.at if planned.at >= now else next_contact(person.rules, now)
        today = person.rules.local(moment).date()
        if planned.at < now and any(p.first <= today <= p.last for p in person.pauses):
            # A step caught up late would land in a pause (a promise made since it was
            # planned): the tick holds it, and the pause's later steps supersede it.
            continue
        if moment <= end and pointless(planned, invoice, today, stale_days) is None:
            by_moment[moment] = (planned, moment)
    return list(by_moment.values())

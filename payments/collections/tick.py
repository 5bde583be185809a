"""The reminder tick: who is due what now, checked, written and queued — once.

Every few minutes :func:`run` reads the open invoices and their customers, asks the planner
what each invoice is due, and then, one customer per transaction, :func:`apply` locks that
customer's invoices, re-reads what another tick may have done meanwhile, applies the stop
rules (:mod:`payments.collections.stops`), and writes: one contact per customer, channel and
local day (a unique index: two ticks at once write one), the steps it covers (unique per
invoice and step: never twice), the skipped ones, and the email in the outbox.

Ticks may run late, twice, or on two machines; a lost tick is the next one's work. A step
missed by a few days is caught up once; beyond ``stale_days`` it is skipped, not sent late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections import compose, people, policy, release, stops
from payments.collections.log_models import Contact, ContactItem
from payments.collections.models import InvoiceChase
from payments.collections.planner import Chased, Decision, Person, Planned, decide
from payments.db import Database
from payments.invoicing.models import Invoice
from payments.outbox import outbox


@dataclass(frozen=True)
class Settings:
    """How the tick runs: ``send`` False plans and records nothing (reminders switched off)."""

    writer: compose.Writer
    defaults: people.Defaults
    stale_days: int = 3
    send: bool = True


@dataclass
class Report:
    """What one tick did."""

    customers: int = 0  # customers with something due
    emails: list[int] = field(default_factory=list)  # outbox rows queued (send them)
    tasks: int = 0  # calls, letters and escalations for staff
    skipped: int = 0  # steps skipped: stale, pointless or superseded
    stopped: int = 0  # invoices a stop rule held back


def due_now(session: Session, settings: Settings, now: datetime
            ) -> tuple[dict[int, Person], dict[int, list[tuple[Chased, Decision]]]]:
    """Each customer with something to do now, and the decisions for its invoices."""
    book = policy.book(session)
    invoices: dict[int, list[Chased]] = {}
    for chased in people.open_invoices(session, book, now.date()):
        invoices.setdefault(chased.customer_id, []).append(chased)
    persons = people.people(session, invoices, book, settings.defaults, now.date())
    work: dict[int, list[tuple[Chased, Decision]]] = {}
    for customer_id, chased in invoices.items():
        person = persons[customer_id]
        for invoice in chased:
            decision = decide(person, invoice, now, settings.stale_days)
            if decision.act is not None or decision.skipped:
                work.setdefault(customer_id, []).append((invoice, decision))
    return persons, work


def run(db: Database, settings: Settings, now: datetime | None = None) -> Report:
    """One tick (see the module). Returns what it did; the caller sends ``emails``."""
    now = now or utcnow()
    report = Report()
    if not settings.send:
        return report
    with db.transaction() as session:
        release.settle_emails(session)
    with db.reader() as session:
        persons, work = due_now(session, settings, now)
    for customer_id, decisions in work.items():
        report.customers += 1
        db.run(lambda s, c=customer_id, d=decisions: apply(s, settings, persons[c], d, now,
                                                            report))
    return report


def apply(session: Session, settings: Settings, person: Person,
          decisions: Sequence[tuple[Chased, Decision]], now: datetime, report: Report) -> None:
    """Check and record one customer's decisions (see the module), in the caller's
    transaction."""
    today = person.rules.local(now).date()
    ids = [invoice.invoice_id for invoice, _ in decisions]
    stopped = stops.check(session, person.customer_id, ids, today, lock=True)
    done = dict(session.execute(select(InvoiceChase.invoice_id, InvoiceChase.last_offset)
                                .where(InvoiceChase.invoice_id.in_(ids))).all())
    acts: dict[str, list[Planned]] = {}
    for invoice, decision in decisions:
        fresh = done.get(invoice.invoice_id)
        if fresh != invoice.last_offset:
            continue  # another tick got here first: its record stands
        if invoice.invoice_id in stopped:
            report.stopped += 1
            continue
        for planned, why in decision.skipped:
            _item(session, planned, None, "skipped", why)
            report.skipped += 1
        if decision.act is not None:
            acts.setdefault(decision.act.channel, []).append(decision.act)
        _advance(session, invoice.invoice_id, decision.last_offset)
    for channel, planned in acts.items():
        _contact(session, settings, person, channel, planned, today, report)


def _contact(session: Session, settings: Settings, person: Person, channel: str,
             planned: list[Planned], today, report: Report) -> None:
    contact_id = session.execute(_INSERT[session.bind.dialect.name], {
        "customer_id": person.customer_id, "channel": channel, "day": today,
        "status": "queued" if channel == "email" else "open",
        "why": "\n".join(p.words() for p in planned), "created_at": utcnow()}).scalar()
    if contact_id is None:
        # One contact per customer, channel and day: these steps wait for tomorrow.
        for p in planned:
            _advance(session, p.invoice_id, _before(session, p))
        return
    for p in planned:
        _item(session, p, contact_id, "contacted", p.words())
    invoices = session.scalars(select(Invoice).where(
        Invoice.id.in_([p.invoice_id for p in planned])).order_by(Invoice.due_date)).all()
    letter = compose.write(session, settings.writer, person, invoices, planned, today)
    contact = session.get(Contact, contact_id)
    contact.subject, contact.body = letter.subject, letter.text
    if channel == "email":
        contact.to_address = ", ".join(person.emails)
        email_id = outbox.queue(session, compose.draft(f"reminder:{contact_id}", person, letter))
        contact.outbox_email_id = email_id
        report.emails.append(email_id)
    else:
        report.tasks += 1
    session.flush()


def _before(session: Session, planned: Planned) -> int | None:
    """The invoice's last done offset without ``planned`` (it was not done after all)."""
    return session.scalar(select(ContactItem.offset_days).where(
        ContactItem.invoice_id == planned.invoice_id,
        ContactItem.offset_days < planned.step.offset)
        .order_by(ContactItem.offset_days.desc()).limit(1))


def _item(session: Session, planned: Planned, contact_id: int | None, outcome: str,
          why: str) -> None:
    session.add(ContactItem(invoice_id=planned.invoice_id, offset_days=planned.step.offset,
                            contact_id=contact_id, outcome=outcome, planned_at=planned.at,
                            why=why[:4000], created_at=utcnow()))
    session.flush()


def _advance(session: Session, invoice_id: int, last_offset: int | None) -> None:
    row = session.get(InvoiceChase, invoice_id)
    if row is None:
        session.add(InvoiceChase(invoice_id=invoice_id, last_offset=last_offset))
    else:
        row.last_offset = last_offset
    session.flush()


_table = Contact.__table__
_INSERT = {name: dialect.insert(_table).on_conflict_do_nothing(
    index_elements=["customer_id", "channel", "day"],
    index_where=text("status <> 'canceled'")).returning(_table.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}

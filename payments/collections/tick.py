"""The reminder tick: who is due what now, checked, written and queued — once.

Every few minutes :func:`run` reads the open invoices and their customers, asks the planner
what each invoice is due, and then, :data:`BATCH` customers per transaction,
:func:`payments.collections.writing.apply` locks their invoices, re-reads what another tick
may have done meanwhile, applies the stop rules (:mod:`payments.collections.stops`), and
writes: one contact per customer, channel and local day (a unique index: two ticks at once
write one), the steps it covers (unique per invoice and step: never twice), the skipped ones,
and the emails in the outbox.

Ticks may run late, twice, or on two machines; a lost tick is the next one's work. A step
missed by a few days is caught up once; beyond ``stale_days`` it is skipped, not sent late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections import compose, people, policy, release, templates, writing
from payments.collections.models import TONES
from payments.collections.planner import Chased, Decision, Person, decide
from payments.db import Database


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


BATCH = 200  # customers per transaction: a few statements each, whatever the batch holds


def run(db: Database, settings: Settings, now: datetime | None = None) -> Report:
    """One tick (see the module). Returns what it did; the caller sends ``emails``."""
    now = now or utcnow()
    report = Report()
    if not settings.send:
        return report
    with db.transaction() as session:
        release.settle_emails(session)
        release.stopped_tasks(session, now.date())
    with db.reader() as session:
        persons, work = due_now(session, settings, now)
        words = {tone: templates.words(session, tone) for tone in TONES}
    customers = sorted(work)
    report.customers = len(customers)
    for start in range(0, len(customers), BATCH):
        batch = {cid: work[cid] for cid in customers[start:start + BATCH]}
        done = _retrying(db, lambda s, b=batch: writing.apply(s, settings.writer, persons, b,
                                                             now, words))
        report.emails += done.emails
        report.tasks += done.tasks
        report.skipped += done.skipped
        report.stopped += done.stopped
    return report


RETRY_STATES = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure


def _retrying(db: Database, work, attempts: int = 3):
    """``db.run(work)``, also retried when PostgreSQL chose this transaction as a deadlock's
    victim (a payment locking the same invoices in another order): the batch is redone."""
    for attempt in range(1, attempts + 1):
        try:
            return db.run(work)
        except DBAPIError as exc:
            if attempt == attempts or getattr(exc.orig, "sqlstate", None) not in RETRY_STATES:
                raise
    raise AssertionError("unreachable")

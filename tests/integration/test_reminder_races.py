"""Reminder ticks racing each other and racing payments, for real: threads with their own
connections (on PostgreSQL they contend for the same rows; on SQLite the writer lock queues
them). Two ticks at once write one reminder per customer; a payment committed before the
email is handed to the relay stops it, however the two interleave."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from payments.collections import tick
from payments.collections.log_models import Contact, ContactItem
from payments.outbox.models import OutboxEmail
from portal import reminders, tasks
from tests.conftest import Api
from tests.factories import lines_totalling
from tests.ledger_world import World

CUSTOMERS = 12
NOW = datetime(2027, 1, 5, 10, tzinfo=UTC)  # Tuesday: day +1 of invoices due Monday the 4th


def book(world: World) -> list[int]:
    """Two invoices due on 4 January for each customer; returns the invoice ids."""
    ids = []
    for c in range(CUSTOMERS):
        for n in range(2):
            ids.append(world.api.create(
                external_id=f"INV-{c}-{n}", number=f"INV-{c}-{n}", issue_date="2026-12-01",
                due_date=date(2027, 1, 4).isoformat(),
                customer={"external_id": f"C{c}", "name": f"Customer {c}",
                          "email": f"ap{c}@example.com"},
                **lines_totalling(1, 1000))["id"])
    return ids


def together(*works):
    """Run each work in its own thread, released at once; re-raise the first failure."""
    barrier, errors, results = threading.Barrier(len(works)), [], [None] * len(works)

    def run(i, work):
        try:
            barrier.wait()
            results[i] = work()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results


def test_two_ticks_at_once_write_one_reminder_per_customer(app_factory, api_key):
    app = app_factory(PORTAL_TASKS_IMMEDIATE=False)
    db = app.extensions["portal.db"]
    book(World(Api(app.test_client(), api_key), db))
    settings = reminders.settings(app)
    first, second = together(lambda: tick.run(db, settings, NOW),
                             lambda: tick.run(db, settings, NOW))
    assert len(first.emails) + len(second.emails) == CUSTOMERS
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEmail)) == CUSTOMERS
        assert session.scalar(select(func.count()).select_from(Contact)) == CUSTOMERS
        assert session.scalar(select(func.count()).select_from(ContactItem).where(
            ContactItem.outcome == "contacted")) == 2 * CUSTOMERS
        addresses = sorted(session.scalars(select(OutboxEmail.to_address)))
    assert addresses == sorted(f"ap{c}@example.com" for c in range(CUSTOMERS))
    assert tick.run(db, settings, NOW).emails == []


def test_payments_racing_the_tick_are_never_reminded(app_factory, api_key, inbox):
    smtp_url, received = inbox
    app = app_factory(PORTAL_TASKS_IMMEDIATE=False, PORTAL_SMTP_URL=smtp_url)
    db = app.extensions["portal.db"]
    world = World(Api(app.test_client(), api_key), db)
    ids = book(world)
    attempts = [world.attempt([(i, 1000)]) for i in ids]
    settings = reminders.settings(app)

    def pay_all():
        for n, reference in enumerate(attempts):
            world.pay(f"pi_race_{n}", 1000, reference)

    report, _ = together(lambda: tick.run(db, settings, NOW), pay_all)
    # Some reminders may have been written before their payments committed; none may go out
    # now that every invoice is paid.
    with app.app_context():
        outcomes = [tasks.send_email(app, email_id) for email_id in report.emails]
    assert set(outcomes) <= {"canceled"}
    assert received.received == []
    assert tick.run(db, settings, NOW).emails == []
    world.verify()

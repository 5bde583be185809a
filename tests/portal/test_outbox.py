"""The outbox through the portal's tasks and ticks, over real SMTP (aiosmtpd): two sweeps
racing send each email once, and a relay outage is retried until the mail goes through.

On PostgreSQL the two sweeps are two threads with their own connections, contending for the
same rows for real.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from payments.clock import utcnow
from payments.links.models import PayLink
from payments.outbox import outbox
from payments.outbox.models import OutboxEmail
from portal import mail, tasks
from tests.conftest import Api
from tests.mailbox import Inbox, emailed_url, free_port, outbox_rows
from tests.staff_helpers import logged_in, make_staff, post

EMAILS = 40


def sweep(app) -> int:
    """One run of the outbox-sweep tick, as the consumer runs it (in the app's context)."""
    with app.app_context():
        return tasks.sweep_outbox(app)


def _queue_without_tasks(app, db, count: int) -> None:
    # As if every task had been lost: the rows are committed, nothing is on the queue.
    with app.test_request_context(), db.transaction() as session:
        links = session.scalars(select(PayLink).where(PayLink.scope == "invoice")).all()
        for n in range(count):
            link = links[n % len(links)]
            outbox.queue(session, mail.link_draft(f"test:{n}", "staff_link",
                                                  f"ap{n}@northwind.example", link, "INV-1",
                                                  "email/staff_link.txt", automatic=False))


def test_two_sweeps_at_once_send_each_email_once(app_factory, api_key, inbox):
    smtp_url, received = inbox
    app = app_factory(PORTAL_SMTP_URL=smtp_url, PORTAL_SWEEP_GRACE_SECONDS=0)
    db = app.extensions["portal.db"]
    api = Api(app.test_client(), api_key)
    for n in range(4):
        api.create(external_id=f"ERP-{n}", number=f"INV-{n}")
    _queue_without_tasks(app, db, EMAILS)
    start = threading.Barrier(2)
    found, errors = [], []

    def race() -> None:
        try:
            start.wait()
            found.append(sweep(app))  # sends each due row through its task
        except BaseException as exc:  # noqa: BLE001  (reported below, in the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(found) >= EMAILS  # both saw the rows: each one was still sent once
    recipients = sorted(rcpt for rcpts, _ in received.received for rcpt in rcpts)
    assert recipients == sorted(f"ap{n}@northwind.example" for n in range(EMAILS))
    assert {row.status for row in outbox_rows(db)} == {"sent"}
    assert all(row.attempts == 1 for row in outbox_rows(db))
    assert sweep(app) == 0  # a later tick finds nothing to do


def test_an_smtp_outage_is_retried_and_the_email_delivered_once_the_relay_is_back(
        app_factory, api_key, db):
    port = free_port()
    app = app_factory(PORTAL_SMTP_URL=f"smtp://127.0.0.1:{port}")  # the relay is down
    db = app.extensions["portal.db"]
    make_staff(db, "clerk@acme.example", "clerk")
    inv = Api(app.test_client(), api_key).create()
    clerk = logged_in(app, "clerk@acme.example")
    assert post(clerk, f"/staff/invoices/{inv['id']}/link/email").status_code == 303
    [row] = outbox_rows(db)
    assert (row.status, row.attempts) == ("pending", 1)
    assert sweep(app) == 0  # not due until its backoff has run out

    handler = Inbox()
    relay = Controller(handler, hostname="127.0.0.1", port=port)
    relay.start()  # the relay is back
    try:
        with db.transaction() as session:  # a minute on
            session.execute(update(OutboxEmail).values(next_attempt_at=utcnow()))
        assert sweep(app) == 1
        assert sweep(app) == 0
    finally:
        relay.stop()
    [(recipients, message)] = handler.received
    assert recipients == ["ap@northwind.example"] and emailed_url(message) == inv["pay_url"]
    [row] = outbox_rows(db)
    assert (row.status, row.attempts) == ("sent", 2)
    page = clerk.get(f"/staff/invoices/{inv['id']}").get_data(as_text=True)
    assert "delivered to the mail relay" in page


def test_an_email_lost_with_its_task_is_sent_by_the_sweep(app_factory, api_key, inbox):
    smtp_url, received = inbox
    app = app_factory(PORTAL_SMTP_URL=smtp_url, PORTAL_SWEEP_GRACE_SECONDS=30)
    db = app.extensions["portal.db"]
    Api(app.test_client(), api_key).create()
    _queue_without_tasks(app, db, 1)
    assert sweep(app) == 0  # its own task may still be on its way
    with db.transaction() as session:
        session.execute(update(OutboxEmail)
                        .values(created_at=utcnow() - timedelta(seconds=31)))
    assert sweep(app) == 1
    assert len(received.received) == 1

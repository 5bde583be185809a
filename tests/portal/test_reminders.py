"""The reminder tick end to end: invoices in through the API, the tick at moments we choose,
the emails through the outbox into a real SMTP server (aiosmtpd).

Dates are fixed (January 2027, UTC customers, Monday to Friday, 09:00–17:00): the tick takes
``now`` as an argument, so each test is a clock we control.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from payments.collections import tick
from payments.collections.log_models import Contact, ContactItem
from payments.collections.models import CollectionProfile, InvoiceChase, Promise
from payments.invoicing.models import Invoice
from payments.outbox.models import OutboxEmail
from portal import reminders, tasks
from tests.conftest import Api, path_of
from tests.factories import lines_totalling
from tests.mailbox import outbox_rows

DUE = date(2027, 1, 4)  # a Monday


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment in January 2027, UTC."""
    return datetime(2027, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def smtp_app(app_factory, inbox):
    smtp_url, received = inbox
    app = app_factory(PORTAL_SMTP_URL=smtp_url)
    return app, received


def invoice(api: Api, ext: str, due: date = DUE, customer: str = "CUST-1", total: int = 1000,
            email: str = "ap@northwind.example") -> int:
    body = api.create(external_id=ext, number=ext, issue_date="2026-12-01",
                      due_date=due.isoformat(),
                      customer={"external_id": customer, "name": f"Northwind {customer}",
                                "email": email}, **lines_totalling(1, total))
    return body["id"]


def run(app, now: datetime) -> tick.Report:
    """One tick at ``now``, its emails sent through their tasks (immediate in tests)."""
    with app.app_context():
        report = reminders.run_tick(app, now)
        for email_id in report.emails:
            tasks.enqueue_email(app, email_id)
    return report


def items(db) -> list[tuple[int, int, str]]:
    with db.reader() as session:
        return list(session.execute(select(ContactItem.invoice_id, ContactItem.offset_days,
                                           ContactItem.outcome).order_by(ContactItem.id)))


def test_one_email_per_customer_with_every_invoice_due_and_working_links(smtp_app, api_key):
    app, received = smtp_app
    api = Api(app.test_client(), api_key)
    first, second = invoice(api, "INV-A"), invoice(api, "INV-B", total=2500)
    invoice(api, "INV-OTHER", due=date(2027, 1, 20))  # nothing due for it yet
    report = run(app, at(5))  # Tuesday: day +1 of both
    assert (report.customers, len(report.emails)) == (1, 1)
    assert len(received.received) == 1
    rcpts, message = received.received[0]
    assert rcpts == ["ap@northwind.example"]
    assert message["Subject"] == "2 overdue invoices from Acme Supplies Ltd"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "INV-A: $10.00, due 2027-01-04 (1 day ago)" in text
    assert "INV-B: $25.00" in text and "INV-OTHER" not in text
    assert "{link:" not in text and "{pdf:" not in text and "{link:" not in html
    client = app.test_client()
    urls = re.findall(r"https://portal\.test/[is]/[A-Za-z0-9_-]{43}(?:/pdf)?", text)
    assert len(urls) == 5  # two invoices with their PDFs, and the statement
    for url in urls:
        assert client.get(path_of(url)).status_code == 200
    assert sorted(items(app.extensions["portal.db"])) == [
        (first, -3, "skipped"), (first, 1, "contacted"),
        (second, -3, "skipped"), (second, 1, "contacted")]


def test_two_ticks_and_a_later_one_the_same_day_send_once(smtp_app, api_key):
    app, received = smtp_app
    api = Api(app.test_client(), api_key)
    invoice(api, "INV-A")
    assert len(run(app, at(5, 10)).emails) == 1
    assert run(app, at(5, 10, 1)).emails == []
    # Another invoice due its step later the same day: one message per customer per day,
    # so it waits for tomorrow and goes then.
    invoice(api, "INV-C", due=date(2027, 1, 4))
    assert run(app, at(5, 15)).emails == []
    assert len(run(app, at(6, 10)).emails) == 1
    assert len(received.received) == 2
    assert "INV-C" in received.received[1][1].get_body(("plain",)).get_content()


def test_quiet_hours_weekends_and_the_customers_time_zone(smtp_app, api_key, db):
    app, _received = smtp_app
    api = Api(app.test_client(), api_key)
    inv = invoice(api, "INV-A", due=date(2027, 1, 7))  # Thursday: +1 is Friday the 8th
    with db.transaction() as session:
        customer_id = session.get(Invoice, inv).customer_id
        session.add(CollectionProfile(customer_id=customer_id, time_zone="America/New_York"))
    assert run(app, at(8, 13)).emails == []  # 08:00 in New York: before contact hours
    assert len(run(app, at(8, 14)).emails) == 1  # 09:00 there
    # The +7 step falls on Thursday the 14th; at 23:30 UTC it is 18:30 there: too late.
    assert run(app, at(14, 23, 30)).emails == []
    assert len(run(app, at(15, 14)).emails) == 1


def test_a_three_day_outage_is_caught_up_once_and_older_steps_are_skipped(smtp_app, api_key,
                                                                            db):
    app, received = smtp_app
    api = Api(app.test_client(), api_key)
    inv = invoice(api, "INV-A")
    assert len(run(app, at(5)).emails) == 1  # +1
    # +7 is Monday the 11th; the ticks stop until Thursday the 14th (3 days late).
    assert len(run(app, at(14)).emails) == 1
    assert run(app, at(14, 11)).emails == []
    # +14 (Monday 18th) and +21 (a call, Monday 25th) are both missed until Friday 29th:
    # +14 is 11 days late and skipped; +21 is 4 days late: skipped too (stale after 3).
    report = run(app, at(29))
    assert report.emails == [] and report.tasks == 0 and report.skipped == 2
    assert [(o, outcome) for i, o, outcome in items(db) if i == inv] == [
        (-3, "skipped"), (1, "contacted"), (7, "contacted"), (21, "skipped")]
    with db.reader() as session:
        why = session.scalar(select(ContactItem.why).where(ContactItem.offset_days == 21))
    assert why == ("day +14: email skipped: 11 days late (more than 3): skipped, not sent late; "
                   "day +21: call task skipped: 4 days late (more than 3): skipped, not sent "
                   "late")
    assert len(received.received) == 2


def test_a_step_missed_on_the_weekend_is_sent_on_monday(smtp_app, api_key):
    app, _received = smtp_app
    api = Api(app.test_client(), api_key)
    invoice(api, "INV-A", due=date(2027, 1, 8))  # Friday: +1 is Saturday, moved to Monday
    assert run(app, at(9)).emails == []
    assert len(run(app, at(11)).emails) == 1


@pytest.mark.parametrize("stop", ["paid", "clearing", "card-dispute", "promise",
                                  "customer-hold", "invoice-hold"])
def test_every_stop_rule_holds_at_tick_time_and_at_send_time(app_factory, api_key, inbox,
                                                             stop):
    smtp_url, received = inbox
    app = app_factory(PORTAL_SMTP_URL=smtp_url, PORTAL_TASKS_IMMEDIATE=False)
    db = app.extensions["portal.db"]
    from tests.ledger_world import World
    world = World(Api(app.test_client(), api_key), db)
    inv = invoice(world.api, "INV-A")
    # Written at the tick (the queue holds its task: the email has not gone yet) …
    with app.app_context():
        report = reminders.run_tick(app, at(5))
    assert len(report.emails) == 1
    # … and one second before the send, the reason to stop arrives.
    _stop(world, db, inv, stop)
    with app.app_context():
        assert tasks.send_email(app, report.emails[0]) == "canceled"
    assert received.received == []
    (row,) = outbox_rows(db)
    assert row.status == "canceled" and "stopped before sending" in row.last_error
    with db.reader() as session:
        contact = session.scalar(select(Contact))
        assert contact.status == "canceled"
        assert session.scalar(select(func.count()).select_from(ContactItem)
                              .where(ContactItem.outcome == "contacted")) == 0
        assert session.get(InvoiceChase, inv).last_offset == -3  # +1 is to do again
    # The next tick: still stopped, nothing written (a paid invoice is not even looked at).
    with app.app_context():
        assert reminders.run_tick(app, at(5, 11)).emails == []


def _stop(world, db, invoice_id: int, stop: str) -> None:
    if stop == "paid":
        world.pay("pi_paid", 1000, world.attempt([(invoice_id, 1000)]))
    elif stop == "clearing":
        world.pay("pi_ach", 1000, world.attempt([(invoice_id, 1000)]), status="pending")
    elif stop == "card-dispute":  # paid, then the card's bank took it back
        world.pay("pi_dp", 1000, world.attempt([(invoice_id, 1000)]),
                  disputes=(("dp_1", 1000, False),))
    else:
        with db.transaction() as session:
            customer_id = session.get(Invoice, invoice_id).customer_id
            if stop == "promise":
                session.add(Promise(customer_id=customer_id, amount=1000, currency="USD",
                                    promised_on=date(2027, 1, 12), created_by="test"))
            elif stop == "customer-hold":
                session.add(CollectionProfile(customer_id=customer_id, do_not_chase=True))
            else:
                session.get(InvoiceChase, invoice_id).do_not_chase = True


def test_a_promise_pauses_the_schedule_until_the_day_after_and_then_it_resumes(smtp_app,
                                                                                api_key, db):
    app, received = smtp_app
    api = Api(app.test_client(), api_key)
    inv = invoice(api, "INV-A")
    assert len(run(app, at(5)).emails) == 1
    with db.transaction() as session:
        session.add(Promise(customer_id=session.get(Invoice, inv).customer_id, amount=1000,
                            currency="USD", promised_on=date(2027, 1, 15), created_by="test"))
    assert run(app, at(11)).emails == []  # +7 falls inside the promise: it waits
    assert run(app, at(15)).emails == []
    # Saturday 16th is the day after; the step goes on Monday 18th, with +14 the same day.
    report = run(app, at(18))
    assert len(report.emails) == 1
    assert [(o, outcome) for i, o, outcome in items(db) if i == inv][-2:] == [
        (7, "skipped"), (14, "contacted")]
    assert len(received.received) == 2


def test_a_revoked_link_cancels_the_email_and_the_next_tick_writes_it_again(app_factory,
                                                                          api_key, inbox):
    smtp_url, received = inbox
    app = app_factory(PORTAL_SMTP_URL=smtp_url, PORTAL_TASKS_IMMEDIATE=False)
    db = app.extensions["portal.db"]
    api = Api(app.test_client(), api_key)
    inv = invoice(api, "INV-A")
    with app.app_context():
        report = reminders.run_tick(app, at(5))
    api.post(f"/invoices/{inv}/link")  # the link is rotated before the email goes
    with app.app_context():
        assert tasks.send_email(app, report.emails[0]) == "canceled"
        again = reminders.run_tick(app, at(5, 11))
        assert len(again.emails) == 1
        assert tasks.send_email(app, again.emails[0]) == "sent"
    assert len(received.received) == 1
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEmail)) == 2
        assert [c.status for c in session.scalars(select(Contact).order_by(Contact.id))] == [
            "canceled", "queued"]


def test_the_daily_ticks_learn_habits_and_settle_promises(app, api, db):
    from tests.ledger_world import World
    world = World(api, db)
    paid = [world.invoice(f"PAID-{n}", 1000) for n in range(3)]
    for n, invoice_id in enumerate(paid):
        world.pay(f"pi_hist_{n}", 1000, world.attempt([(invoice_id, 1000)]))
    open_id = world.invoice("OPEN-1", 1000)
    customer_id = world.customer_of(open_id)
    with db.transaction() as session:
        session.add(Promise(customer_id=customer_id, amount=1000, currency="USD",
                            promised_on=date(2026, 1, 2), created_by="test"))
    with app.app_context():
        assert reminders.settle_promises(app) == 1
        assert reminders.settle_promises(app) == 0  # once
        assert reminders.learn(app) >= 1
    with db.reader() as session:
        assert session.scalar(select(Promise.status)) == "broken"
        profile = session.get(CollectionProfile, customer_id)
        # Paid today, due in 25 days (the factory's dates): 25 days early, three times.
        assert profile.learned["count"] == 3 and profile.learned["usual"] < 0
    assert {"promises-settle", "collections-learn", "reminders"} <= set(
        app.extensions["portal.ticks"])


def test_the_timeline_shows_each_reminder_with_its_text_and_no_token(smtp_app, api_key, db):
    app, received = smtp_app
    api = Api(app.test_client(), api_key)
    inv = invoice(api, "INV-A")
    run(app, at(5))
    from payments.collections import timeline
    with db.reader() as session:
        customer_id = session.get(Invoice, inv).customer_id
        entries = timeline.load(session, customer_id).entries
    (email,) = [e for e in entries if e.kind.endswith("email") or "Reminder" in e.title]
    assert email.title.startswith("Reminder email sent: 1 overdue invoice")
    assert "INV-A: $10.00, due 2027-01-04 (1 day ago)" in email.detail
    assert "[link]" in email.detail and "{link:" not in email.detail
    sent = received.received[0][1].get_body(("plain",)).get_content()
    assert re.search(r"/i/([A-Za-z0-9_-]{43})", sent).group(1) not in email.detail


@pytest.mark.parametrize("learns", [True, False])
def test_overdue_reminders_wait_for_the_customers_usual_lateness(smtp_app, api_key, db, learns):
    from payments.collections.timing import Learned
    app, _received = smtp_app
    api = Api(app.test_client(), api_key)
    inv = invoice(api, "INV-A")  # due Monday 4 January
    with db.transaction() as session:
        session.add(CollectionProfile(customer_id=session.get(Invoice, inv).customer_id,
                                      learn_timing=learns,
                                      learned=Learned(8, 10, "10.0", 9, 11).as_json()))
    # +1 with a usual lateness of 10 days: Friday the 15th; not learning, Tuesday the 5th and
    # +7 on Monday the 11th.
    sent = [len(run(app, at(day)).emails) for day in (5, 11, 14, 15)]
    assert sent == ([0, 0, 0, 1] if learns else [1, 1, 0, 0])


def test_a_call_task_for_an_invoice_paid_since_is_withdrawn(app, api, db):
    from tests.ledger_world import World
    world = World(api, db)
    inv = invoice(api, "INV-A")
    with app.app_context():
        assert reminders.run_tick(app, at(25)).tasks == 1  # +21 is a call (Monday the 25th)
    world.pay("pi_late", 1000, world.attempt([(inv, 1000)]))
    with app.app_context():
        reminders.run_tick(app, at(25, 11))
    with db.reader() as session:
        (task,) = session.scalars(select(Contact).where(Contact.channel == "call")).all()
    assert task.status == "canceled" and task.canceled_reason == "withdrawn: paid"


def test_promises_settle_once_their_day_is_over_everywhere(app, db, api, monkeypatch):
    from payments.collections import promises
    customer_id = api.create()["customer"]["id"]
    with db.transaction() as session:
        session.add(Promise(customer_id=customer_id, amount=1000, currency="USD",
                            promised_on=date(2027, 1, 14), created_by="test"))
    calls = []
    real = promises.settle_due
    monkeypatch.setattr(promises, "settle_due", lambda s, day: calls.append(day) or real(s, day))
    for moment in (datetime(2027, 1, 15, 13, 59, tzinfo=UTC),  # still the 14th in UTC-12
                   datetime(2027, 1, 15, 14, 1, tzinfo=UTC)):
        monkeypatch.setattr(reminders, "utcnow", lambda moment=moment: moment)
        with app.app_context():
            reminders.settle_promises(app)
    assert calls == [date(2027, 1, 14), date(2027, 1, 15)]
    with db.reader() as session:
        assert session.scalar(select(Promise.status)) == "broken"


def test_a_reminder_leaves_the_disputed_amount_out_and_a_whole_dispute_stops_it(
        smtp_app, api_key, tmp_path):
    from payments.disputes import raising
    from payments.disputes.attachments import AttachmentStore

    app, received = smtp_app
    api = Api(app.test_client(), api_key)
    partial, whole = invoice(api, "INV-P", total=2500), invoice(api, "INV-W")
    with app.extensions["portal.db"].transaction() as s:
        for invoice_id, amount in ((partial, "5.00"), (whole, "")):
            raising.raise_dispute(s, invoice_id, raising.Raise(reason="pricing", amount=amount),
                                  AttachmentStore(tmp_path), [])
    report = run(app, at(5))  # Tuesday: day +1 of both
    text = received.received[0][1].get_body(preferencelist=("plain",)).get_content()
    assert ("INV-P: $20.00 ($5.00 in dispute is left out while we look into it), due "
            "2027-01-04") in text
    assert "INV-W" not in text
    assert report.stopped == 1

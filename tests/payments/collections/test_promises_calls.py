"""Promises to pay and logged calls: a promise is checked against what the customer owes and
the calendar (a refused one writes nothing), replaces the open one in its currency, and
settles kept or broken from the ledger, once, however many settle at once; a call closes its
task, records the promise it carries, and follows up a broken promise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from payments.clock import utcnow
from payments.collections import calls, promises, worklist
from payments.collections.log_models import CallLog, Contact
from payments.collections.models import Promise
from payments.staff import audit
from payments.staff.models import AuditEntry
from tests.ledger_world import at_once
from tests.staff_helpers import make_staff

pytestmark = pytest.mark.usefixtures("cheap_hashing")

TODAY = utcnow().date()


@pytest.fixture
def clerk(db) -> audit.Actor:
    return audit.Actor(make_staff(db, "clerk@acme.example", "clerk"), "clerk@acme.example")


def count(db, what) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(what))


def actions(db) -> list[str]:
    with db.reader() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)
                                    .where(AuditEntry.action.not_like("staff.%"))))


def promise(world, customer_id, actor, amount, currency="USD", days=3, **kw) -> Promise:
    return world.run(promises.record, actor, customer_id, amount, currency,
                     TODAY + timedelta(days=days), kw.get("contact"), kw.get("note"), TODAY)


def test_a_bad_promise_says_why_field_by_field_and_writes_nothing(world, db, clerk):
    a = world.invoice("A", 1000, customer="OWES")
    b = world.invoice("B", 500, customer="OWES")
    void = world.invoice("V", 90_000, customer="OWES")
    assert world.api.post(f"/invoices/{void}/void").status_code == 200  # owes nothing on it
    world.pay("pi_b", 200, world.attempt([(b, 200)]))
    customer = world.customer_of(a)  # owes $10.00 + $3.00 in USD
    cases = [
        (dict(amount=1301), "amount", "more than the customer owes in USD on open invoices "
                                      "($13.00)"),
        (dict(amount=0), "amount", "greater than zero"),
        (dict(amount=500, currency="EUR"), "currency", "no open invoices in EUR currency "
                                                       "(open in: USD)"),
        (dict(amount=500, days=-1), "promised_on", "The date has passed"),
        (dict(amount=500, days=91), "promised_on", "at most 90 days ahead"),
        (dict(amount=500, note="x" * 4001), "note", "at most 4000 characters"),
    ]
    for overrides, field, words in cases:
        with pytest.raises(promises.PromiseError) as refused:
            promise(world, customer, clerk, **overrides)
        assert list(refused.value.fields) == [field] and words in refused.value.fields[field]
        assert words in str(refused.value)
    with pytest.raises(promises.PromiseError, match="no such customer"):
        promise(world, 999_999, clerk, 500)
    with pytest.raises(promises.PromiseError, match="Only a staff user"):
        promise(world, customer, audit.CLI, 500)
    assert count(db, Promise) == 0 and actions(db) == []
    kept = promise(world, customer, clerk, 1300, days=90, contact="  Dana (AP)  ")
    assert (kept.status, kept.contact, kept.created_by) == ("open", "Dana (AP)",
                                                            "clerk@acme.example")
    assert actions(db) == ["promise.record"]


def test_a_new_promise_replaces_the_open_one_in_its_currency_only(world, db, clerk):
    customer = world.customer_of(world.invoice("A", 1000, customer="TWO"))
    world.invoice("E", 5000, currency="EUR", customer="TWO")
    first = promise(world, customer, clerk, 400, days=5)
    euros = promise(world, customer, clerk, 5000, "EUR", days=10)
    second = promise(world, customer, clerk, 700, days=2)
    with db.reader() as session:
        assert session.get(Promise, first.id).status == "canceled"
        assert session.get(Promise, first.id).settled_at is not None
        active = promises.active(session, customer, TODAY)
    assert [(p.id, p.amount) for p in active] == [(second.id, 700), (euros.id, 5000)]
    canceled = world.run(promises.cancel, clerk, euros.id)
    assert canceled.status == "canceled"
    with pytest.raises(promises.PromiseError, match="no longer open: it is canceled"):
        world.run(promises.cancel, clerk, euros.id)
    assert actions(db) == ["promise.record"] * 3 + ["promise.cancel"]


def test_settling_keeps_what_was_paid_since_and_breaks_the_rest_once(world, db, clerk):
    def customer_with(ext, total=1000):
        invoice = world.invoice(f"INV-{ext}", total, customer=ext)
        return invoice, world.customer_of(invoice)

    paid_inv, paid = customer_with("PAID")
    short_inv, short = customer_with("SHORT")
    early_inv, early = customer_with("EARLY")
    refunded_inv, refunded = customer_with("REFUNDED")
    _later_inv, later = customer_with("LATER")
    world.pay("pi_early", 600, world.attempt([(early_inv, 600)]))  # before the promise
    made = {c: promise(world, c, clerk, 600, days=0) for c in (paid, short, refunded)}
    made[early] = promise(world, early, clerk, 400, days=0)  # the rest; nothing paid since
    made[later] = promise(world, later, clerk, 600, days=1)  # not due yet tomorrow
    world.pay("pi_paid", 400, world.attempt([(paid_inv, 400)]))
    world.pay("pi_paid2", 200, world.attempt([(paid_inv, 200)]))  # two payments reach 600
    world.pay("pi_short", 599, world.attempt([(short_inv, 599)]))
    world.pay("pi_ref", 600, world.attempt([(refunded_inv, 600)]), refunds=(100,))
    assert world.run(promises.settle_due, TODAY) == []  # due today: the customer has today
    settled = world.run(promises.settle_due, TODAY + timedelta(days=1))
    assert {p.customer_id: p.status for p in settled} == {
        paid: "kept", short: "broken", early: "broken", refunded: "broken"}
    assert all(p.settled_at is not None for p in settled)
    assert world.run(promises.settle_due, TODAY + timedelta(days=1)) == []
    with db.reader() as session:
        assert session.get(Promise, made[later].id).status == "open"


def test_two_settlers_at_once_settle_each_promise_once(world, db, clerk):
    customers = [world.customer_of(world.invoice(f"I{n}", 1000, customer=f"C{n}"))
                 for n in range(6)]
    for customer in customers:
        promise(world, customer, clerk, 500, days=0)
    tomorrow = TODAY + timedelta(days=1)
    first, second = at_once(db, lambda s: [p.id for p in promises.settle_due(s, tomorrow)],
                            lambda s: [p.id for p in promises.settle_due(s, tomorrow)])
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    assert sorted(first + second) == sorted(set(first + second)) and len(first + second) == 6


def task(world, customer_id, channel="call", why="day +21: call task for invoice A") -> int:
    def add(session):
        contact = Contact(customer_id=customer_id, channel=channel, day=TODAY, status="open",
                          why=why)
        session.add(contact)
        session.flush()
        return contact.id
    return world.run(add)


def test_a_call_closes_its_task_and_a_promise_outcome_records_the_promise(world, db, clerk):
    customer = world.customer_of(world.invoice("A", 1000, customer="CALLED"))
    other = world.customer_of(world.invoice("B", 1000, customer="OTHER"))
    call_task = task(world, customer)
    terms = promises.Terms(800, "USD", TODAY + timedelta(days=7), "Dana")
    logged = world.run(calls.log, clerk, customer, "promise", " Pays Friday ", call_task,
                       terms, TODAY)
    with db.reader() as session:
        done = session.get(Contact, call_task)
        kept = session.get(Promise, logged.promise_id)
    assert (done.status, done.done_by) == ("done", "clerk@acme.example") and done.done_at
    assert (kept.amount, kept.contact, kept.note, kept.status) == (800, "Dana", "Pays Friday",
                                                                   "open")
    assert (logged.outcome, logged.note, logged.author_email) == ("promise", "Pays Friday",
                                                                  "clerk@acme.example")
    assert actions(db) == ["promise.record", "contact.done", "call.log"]
    with pytest.raises(calls.CallError, match=r"already done \(clerk@acme.example"):
        world.run(calls.log, clerk, customer, "reached", None, call_task)
    with pytest.raises(calls.CallError, match="not one of this customer's tasks"):
        world.run(calls.log, clerk, other, "reached", None, call_task)
    assert count(db, CallLog) == 1


def test_a_refused_call_writes_nothing(world, db, clerk):
    customer = world.customer_of(world.invoice("A", 1000, customer="REFUSED"))
    call_task = task(world, customer)
    later = TODAY + timedelta(days=3)
    for args, field in (
            (("hung_up", None), "outcome"),
            (("reached", "x" * 4001), "note"),
            (("promise", None), "amount"),
            (("reached", None, call_task, promises.Terms(100, "USD", later)), "outcome")):
        with pytest.raises(calls.CallError) as refused:
            world.run(calls.log, clerk, customer, *args)
        assert field in refused.value.fields
    # A promise the customer cannot make: the task stays open, no call, no promise.
    with pytest.raises(promises.PromiseError) as refused:
        world.run(calls.log, clerk, customer, "promise", "ok", call_task,
                  promises.Terms(5000, "USD", later), TODAY)
    assert "amount" in refused.value.fields
    with db.reader() as session:
        assert session.get(Contact, call_task).status == "open"
    assert (count(db, CallLog), count(db, Promise), actions(db)) == (0, 0, [])


def test_a_call_after_a_broken_promise_follows_it_up(world, db, clerk):
    customer = world.customer_of(world.invoice("A", 1000, customer="BROKE"))
    promise(world, customer, clerk, 1000, days=0)
    [broken] = world.run(promises.settle_due, TODAY + timedelta(days=1))
    assert broken.status == "broken"
    with db.reader() as session:
        [row] = worklist.load(session, TODAY).rows
    assert row.reasons == ("broken promise",) and row.broken[0].id == broken.id
    # A voicemail is not a conversation: the account stays on the worklist …
    world.run(calls.log, clerk, customer, "left_message", "Voicemail", today=TODAY)
    with db.reader() as session:
        assert session.get(Promise, broken.id).followed_up_at is None
        assert len(worklist.load(session, TODAY).rows) == 1
    # … until someone speaks with the customer.
    world.run(calls.log, clerk, customer, "reached", "Paying Friday", today=TODAY)
    with db.reader() as session:
        assert session.get(Promise, broken.id).followed_up_at is not None
        assert worklist.load(session, TODAY).rows == ()


def test_letters_and_escalations_are_marked_done_without_a_call(world, db, clerk):
    customer = world.customer_of(world.invoice("A", 1000, customer="LETTER"))
    letter = task(world, customer, "letter", "day +30: letter")
    closed = world.run(calls.close_task, clerk, letter)
    assert (closed.status, closed.done_by) == ("done", "clerk@acme.example")
    with pytest.raises(calls.CallError, match="already done"):
        world.run(calls.close_task, clerk, letter)
    with pytest.raises(calls.CallError, match="no such task"):
        world.run(calls.close_task, clerk, 999_999)
    assert actions(db) == ["contact.done"] and count(db, CallLog) == 0

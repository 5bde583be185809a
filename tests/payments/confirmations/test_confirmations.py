"""The confirmation queue, (bulk) confirm, reversals after confirmation, and the ERP export."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from payments.clock import utcnow
from payments.confirmations import export
from payments.confirmations import queue as c
from payments.ledger.models import ReconciliationException
from payments.resolutions import actions, refunds
from tests.ledger_world import World, at_once

CLERK, OTHER = "clerk@acme.example", "other@acme.example"


def _queue(world: World, **kwargs) -> c.QueuePage:
    with world.db.reader() as session:
        return c.queue(session, **kwargs)


def test_the_queue_shows_succeeded_unconfirmed_payments_oldest_first(world):
    a, b, j = world.invoice("A", 3000), world.invoice("B", 2000), world.invoice("J", 5000)
    matched = world.pay("pi_m", 5000, world.attempt([(a, 3000), (b, 2000)]))
    world.pay("pi_ach", 1000, world.attempt([(j, 1000)]), status="pending")
    unmatched = world.pay("pi_u", 700)
    staff = world.pay("pi_s", 4000)
    world.run(actions.apply_to_invoice, world.exceptions()[-1].id, j, 4000, CLERK)
    page = _queue(world)
    assert [d.payment.id for d in page.items] == [matched, unmatched, staff]
    assert page.next_cursor is None
    first = page.items[0]
    assert [(x.invoice_number, x.invoice_external_id, x.amount, x.net) for x in first.lines] \
        == [("A", "A", 3000, 3000), ("B", "B", 2000, 2000)]
    assert (first.payment.method, first.payment.payment_intent_id, first.payment.charge_id) \
        == ("card", "pi_m", "ch_pi_m")
    assert first.match_reason == "attempt_reference"
    assert "in the Stripe metadata" in first.match_detail and first.confirmable
    second = page.items[1]
    assert second.match_reason == "unmatched" and not second.confirmable
    assert [kind for _id, kind in second.open_exceptions] == ["unmatched_payment"]
    assert [(x.invoice_id, x.amount, x.net) for x in second.lines] == [(None, 700, 700)]
    third = page.items[2]
    assert third.match_reason == "staff_allocation" and CLERK in third.match_detail
    assert [(x.invoice_id, x.amount) for x in third.lines] == [(j, 4000)]


def test_the_queue_pages_by_cursor(world):
    ids = [world.pay(f"pi_{n}", 100 + n) for n in range(5)]
    seen, cursor = [], None
    while True:
        page = _queue(world, cursor=cursor, limit=2)
        seen += [d.payment.id for d in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids


def test_bulk_confirm_confirms_what_it_can_and_says_why_not_for_the_rest(world):
    a, b, d, e = (world.invoice(x, 1000) for x in "ABDE")
    good = world.pay("pi_good", 1000, world.attempt([(a, 1000)]))
    pending = world.pay("pi_ach", 1000, world.attempt([(b, 1000)]), status="pending")
    failed = world.pay("pi_fail", 1000, world.attempt([(d, 1000)]), status="pending")
    world.pay("pi_fail", 1000, status="failed")
    unmatched = world.pay("pi_u", 500)
    done = world.run(c.confirm, [good, pending, failed, unmatched, 999, good], CLERK)
    assert [x.payment_id for x in done.confirmed] == [good]
    assert done.confirmed[0].before == {"confirmed_at": None, "confirmed_by": None}
    assert done.confirmed[0].after["confirmed_by"] == CLERK
    reasons = {x.payment_id: x.reason for x in done.rejected}
    assert "not cleared" in reasons[pending] and reasons[failed].startswith("failed")
    assert "resolve its open exceptions first (#" in reasons[unmatched]
    assert reasons[999] == "no such payment"
    payment = world.payment(good)
    assert payment.confirmed_by == CLERK and payment.confirmed_at is not None
    again = world.run(c.confirm, [good], OTHER)  # a double submit, or a colleague
    assert again.confirmed == []
    assert again.rejected[0].reason.startswith(f"already confirmed by {CLERK}")
    assert world.payment(good).confirmed_by == CLERK
    assert _queue(world).items[0].payment.id == unmatched


def test_pending_ach_is_confirmed_once_it_clears(world):
    a = world.invoice("A", 1000)
    pid = world.pay("pi_ach", 1000, world.attempt([(a, 1000)]), status="pending")
    assert _queue(world).items == []
    assert world.run(c.confirm, [pid], CLERK).confirmed == []
    world.pay("pi_ach", 1000)
    assert [x.payment_id for x in world.run(c.confirm, [pid], CLERK).confirmed] == [pid]


def test_a_payment_reversed_after_confirmation_comes_back_as_an_exception(world):
    a = world.invoice("A", 10000)
    pid = world.pay("pi_1", 10000, world.attempt([(a, 10000)]))
    world.run(c.confirm, [pid], CLERK)
    world.pay("pi_1", 10000, refunds=(2500,), disputes=(("du_1", 1000, False),))
    found = [(e.kind, e.amount, e.invoice_id) for e in world.exceptions()]
    assert found == [("reversal_after_confirmation", 2500, a),
                     ("reversal_after_confirmation", 1000, a)]
    world.pay("pi_1", 10000, refunds=(2500,), disputes=(("du_1", 1000, False),))
    assert len(world.exceptions()) == 2  # raised once


def test_a_refund_staff_sent_from_the_queue_is_not_news_after_confirmation(world):
    a = world.invoice("A", 10000)
    world.pay("pi_1", 10000, world.attempt([(a, 10000)]))
    p2 = world.pay("pi_2", 6000, world.attempt([(a, 6000)]))
    exc = world.exception("overpayment")
    request = world.run(refunds.request_refund, exc, 6000, CLERK)
    world.run(refunds.record_refund, request, {"id": "re_pi_2_0", "status": "pending"},
              CLERK)
    assert [x.payment_id for x in world.run(c.confirm, [p2], CLERK).confirmed] == [p2]
    world.pay("pi_2", 6000, refunds=(6000,))  # the refund's own event arrives later
    assert world.exceptions() == []
    assert world.paid(a) == [10000]
    world.verify()


def test_two_clerks_confirming_at_once_confirm_each_payment_once(world, db):
    ids = [world.pay(f"pi_{n}", 100 + n) for n in range(6)]
    with db.transaction() as session:  # no exceptions in the way
        for exc in session.scalars(select(ReconciliationException)):
            actions.dismiss(session, exc.id, "test", CLERK)
    mine, theirs = at_once(db, lambda s: c.confirm(s, ids[:4], CLERK),
                            lambda s: c.confirm(s, list(reversed(ids[2:])), OTHER))
    confirmed = [x.payment_id for x in mine.confirmed + theirs.confirmed]
    assert sorted(confirmed) == ids  # every payment once: none twice, none lost
    assert len(mine.rejected) + len(theirs.rejected) == 2
    for payment_id in ids:
        by = CLERK if payment_id in [x.payment_id for x in mine.confirmed] else OTHER
        assert world.payment(payment_id).confirmed_by == by


def _export(world: World, **kwargs) -> list[export.ExportRow]:
    with world.db.reader() as session:
        return list(export.export_confirmed(session, **kwargs))


def test_confirmed_payments_export_one_row_per_allocation_net_of_refunds(world):
    a, b, j = world.invoice("A", 3000), world.invoice("B", 2000), world.invoice("J", 1000)
    two = world.pay("pi_two", 5000, world.attempt([(a, 3000), (b, 2000)]))
    world.pay("pi_two", 5000, refunds=(500,))
    part = world.pay("pi_part", 1500)
    world.run(actions.apply_to_invoice, world.exception("unmatched_payment"), j, 1000,
              CLERK)
    world.run(actions.dismiss, world.exception("unmatched_payment"), "tip", CLERK)
    world.pay("pi_left", 100)  # not confirmed: not exported
    assert {x.payment_id for x in world.run(c.confirm, [two, part], CLERK).confirmed} \
        == {two, part}
    rows = _export(world)
    assert [(x.payment_id, x.invoice_number, x.amount, x.net_amount) for x in rows] == [
        (two, "A", 3000, 3000), (two, "B", 2000, 1500),
        (part, "J", 1000, 1000), (part, None, 500, 500)]
    out = io.StringIO()
    assert export.write_csv(rows, out) == 4
    lines = out.getvalue().split("\r\n")
    assert lines[0] == ("payment_id,confirmed_at,confirmed_by,invoice_external_id,"
                        "invoice_number,amount,net_amount,currency,method,payment_intent_id,"
                        "charge_id")
    confirmed_at = world.payment(two).confirmed_at.isoformat()
    assert lines[1] == f"{two},{confirmed_at},{CLERK},A,A,3000,3000,USD,card,pi_two,ch_pi_two"
    assert lines[4] == f"{part},{confirmed_at},{CLERK},,,500,500,USD,card,pi_part,ch_pi_part"
    assert _export(world, since=utcnow() + timedelta(seconds=1)) == []
    assert len(_export(world, since=utcnow() - timedelta(minutes=1))) == 4


def test_the_export_reads_in_batches(world, monkeypatch):
    monkeypatch.setattr(export, "EXPORT_BATCH", 2)
    ids = [world.pay(f"pi_{n}", 100 + n) for n in range(5)]
    with world.db.transaction() as session:
        for exc in session.scalars(select(ReconciliationException)):
            actions.dismiss(session, exc.id, "test", CLERK)
    for payment_id in ids:  # confirmed one by one, and all at one instant
        world.run(c.confirm, [payment_id], CLERK)
    assert [x.payment_id for x in _export(world)] == ids

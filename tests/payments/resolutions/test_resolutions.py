"""The exceptions queue's actions, on real payments and the real ledger: every action on every
kind it fits, the refusals, double submits, and the ledger verified after each."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from payments.invoicing.models import Customer
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException, StaffAllocationSet
from payments.resolutions import actions as r
from payments.resolutions import refunds
from payments.resolutions.models import CustomerCredit
from tests.ledger_world import World, at_once

CLERK = "clerk@acme.example"


def _overpaid(world: World, first: int = 10000, second: int = 6000):
    """Invoice A (100.00) paid ``first`` by one payment, then ``second`` by another."""
    a = world.invoice("A", 10000)
    world.pay("pi_1", first, world.attempt([(a, first)]))
    p2 = world.pay("pi_2", second, world.attempt([(a, second)]))
    return a, p2, world.exception("overpayment")


def _resolution(world: World, exception_id: int) -> dict:
    with world.db.reader() as session:
        return json.loads(session.get(ReconciliationException, exception_id).resolution)


def _credits(world: World) -> list[tuple[int, str, int, str]]:
    with world.db.reader() as session:
        return [tuple(row) for row in session.execute(select(
            CustomerCredit.customer_id, CustomerCredit.currency, CustomerCredit.amount,
            CustomerCredit.cause).order_by(CustomerCredit.id))]


def _kinds(world: World) -> list[tuple[int, str, int]]:
    with world.db.reader() as session:
        return [tuple(row) for row in session.execute(select(
            LedgerEntry.invoice_id, LedgerEntry.kind, LedgerEntry.paid_delta)
            .order_by(LedgerEntry.id))]


# apply to another invoice


def test_an_unmatched_payment_is_applied_to_two_invoices_once(world):
    j1, j2 = world.invoice("J1", 3000), world.invoice("J2", 2000)
    pid = world.pay("pi_u", 5000)
    exc = world.exception("unmatched_payment")
    done = world.run(r.apply_to_invoices, exc, [(j1, 3000), (j2, 2000)], CLERK)
    assert done.before["resolved_at"] is None and done.after["resolved_by"] == CLERK
    assert done.after["resolution"]["action"] == "apply_to_invoice"
    assert done.follow_up_id is None and len(done.entry_ids) == 2
    assert world.paid(j1, j2) == [3000, 2000]
    payment = world.payment(pid)
    assert payment.match_reason == "staff_allocation"
    assert payment.customer_id == world.customer_of(j1)
    world.verify()
    entries = world.entries()
    with pytest.raises(r.AlreadyResolved, match="already resolved"):
        world.run(r.apply_to_invoice, exc, j1, 100, CLERK)
    world.pay("pi_u", 5000)  # Stripe tells the same again: the ledger has it all
    assert world.entries() == entries
    world.verify()


def test_applying_part_leaves_the_rest_in_a_follow_up_exception(world):
    j1 = world.invoice("J1", 3000)
    world.pay("pi_u", 5000)
    exc = world.exception("unmatched_payment")
    done = world.run(r.apply_to_invoice, exc, j1, 3000, CLERK)
    follow = world.exception("unmatched_payment")
    assert follow == done.follow_up_id
    found = world.exceptions("unmatched_payment")[0]
    assert (found.amount, found.cause) == (2000, f"remainder:{exc}")
    credited = world.run(r.keep_as_credit, follow, CLERK)  # the customer is known now
    assert credited.after["resolution"]["amount"] == 2000
    assert _credits(world) == [(world.customer_of(j1), "USD", 2000, f"exception:{follow}")]
    assert world.paid(j1) == [3000]
    world.verify()


def test_a_refund_of_unapplied_money_does_not_reopen_the_invoice_it_was_applied_to(world):
    j = world.invoice("J", 6000)
    world.pay("pi_u", 10000)
    world.run(r.apply_to_invoice, world.exception("unmatched_payment"), j, 6000, CLERK)
    world.pay("pi_u", 10000, refunds=(4000,))  # someone refunds the rest in Stripe
    assert world.paid(j) == [6000]
    world.pay("pi_u", 10000, refunds=(4000, 1000))  # more than was left: it comes off J
    assert world.paid(j) == [5000]
    world.verify()


def test_money_refunded_before_it_was_applied_cannot_be_applied(world):
    j = world.invoice("J", 9000)
    world.pay("pi_u", 10000, refunds=(4000,))
    exc = world.exception("unmatched_payment")
    with pytest.raises(r.ResolutionError, match=r"only \$60.00 is left"):
        world.run(r.apply_to_invoice, exc, j, 6001, CLERK)
    world.run(r.apply_to_invoice, exc, j, 6000, CLERK)
    world.pay("pi_u", 10000, refunds=(4000,))
    assert world.paid(j) == [6000]
    world.verify()


def test_refunds_recorded_before_a_reallocation_keep_their_split(world):
    j = world.invoice("J", 5000)
    a, p2, exc = _overpaid(world, 7000, 5000)  # A is overpaid by 20.00
    world.pay("pi_2", 5000, refunds=(1000,))  # a refund came off A: overpaid by 10.00
    assert world.paid(a) == [11000]
    done = world.run(r.apply_to_invoice, exc, j, 1000, CLERK)
    assert done.follow_up_id is None
    assert world.paid(a, j) == [10000, 1000]
    assert (a, "reallocation", -1000) in _kinds(world)  # the ledger can't shrink pi_2:paid
    world.verify()
    world.pay("pi_2", 5000, refunds=(1000,))  # the same facts again: nothing changes
    assert world.paid(a, j) == [10000, 1000]
    world.pay("pi_2", 5000, refunds=(1000, 2000))  # a new refund: J (last) first, then A
    assert world.paid(a, j) == [9000, 0]
    world.verify()


def test_an_overpayment_applied_elsewhere_whole(world):
    j = world.invoice("J", 6000)
    a, p2, exc = _overpaid(world)
    world.run(r.apply_to_invoice, exc, j, 6000, CLERK)
    assert world.paid(a, j) == [10000, 6000]
    assert (a, "payment_reversed", -6000) in _kinds(world)
    world.verify()


def test_a_voided_invoices_share_goes_to_another_invoice(world):
    a, b, j = world.invoice("A", 3000), world.invoice("B", 2000), world.invoice("J", 2000)
    reference = world.attempt([(a, 3000), (b, 2000)])
    world.api.post(f"/invoices/{b}/void")
    world.pay("pi_v", 5000, reference)
    exc = world.exception("voided_invoice")
    assert world.paid(a, b) == [3000, 2000]
    world.run(r.apply_to_invoice, exc, j, 2000, CLERK)
    assert world.paid(a, b, j) == [3000, 0, 2000]
    world.pay("pi_v", 5000, refunds=(500,))  # later refunds come off the new set
    assert world.paid(a, b, j) == [3000, 0, 1500]
    assert len(world.exceptions("voided_invoice")) == 0  # B is no longer allocated
    world.verify()


def _mismatched(world: World):
    a, b = world.invoice("A", 3000), world.invoice("B", 2000)
    reference = world.attempt([(a, 3000), (b, 2000)])
    world.api.create(external_id="B", number="B", currency="EUR", customer={
        "external_id": "CUST-1", "name": "Customer CUST-1", "email": "ap@example.com"},
        lines=[{"description": "Line 1", "amount": 2000}], tax_amount=0, total=2000)
    world.pay("pi_c", 5000, reference)
    return a, b, world.exception("currency_mismatch")


def test_money_meant_for_an_invoice_in_another_currency_is_applied(world):
    a, b, exc = _mismatched(world)
    j = world.invoice("J", 2500)
    assert world.paid(a, b) == [3000, 0]
    with pytest.raises(r.ResolutionError, match="void or not in USD"):
        world.run(r.apply_to_invoice, exc, b, 2000, CLERK)
    world.run(r.apply_to_invoice, exc, j, 2000, CLERK)
    assert world.paid(a, b, j) == [3000, 0, 2000]
    world.verify()


def test_a_refund_of_money_no_invoice_got_leaves_the_paid_invoice_alone(world):
    a, _b, exc = _mismatched(world)
    world.pay("pi_c", 5000, refunds=(2000,))
    assert world.paid(a) == [3000]
    with pytest.raises(r.ResolutionError, match="nothing is left"):
        world.run(r.keep_as_credit, exc, CLERK)
    world.verify()


def test_apply_refuses_what_does_not_fit(world):
    a, p2, exc = _overpaid(world)
    j, eur = world.invoice("J", 1000), world.invoice("E", 9000, currency="EUR")
    void = world.invoice("V", 9000)
    world.api.post(f"/invoices/{void}/void")
    cases = [([(j, 1001)], "owes \\$10.00"), ([(eur, 100)], "not in USD"),
             ([(void, 100)], "void"), ([(a, 100)], "the one the money comes from"),
             ([(j, 500), (j, 500)], "listed twice"), ([(j, 0)], "above zero"),
             ([(j, 10.5)], "whole number"), ([(999, 100)], "no invoice #999"), ([], "at least")]
    for targets, message in cases:
        with pytest.raises(r.ResolutionError, match=message):
            world.run(r.apply_to_invoices, exc, targets, CLERK)
    big = world.invoice("BIG", 90000)
    with pytest.raises(r.ResolutionError, match=r"only \$60.00 is left to apply"):
        world.run(r.apply_to_invoice, exc, big, 6001, CLERK)
    with pytest.raises(r.NotFound):
        world.run(r.apply_to_invoice, 424242, j, 100, CLERK)
    assert [e.id for e in world.exceptions()] == [exc]
    world.verify()


def test_money_not_cleared_yet_cannot_be_moved(world):
    j = world.invoice("J", 5000)
    world.pay("pi_ach", 5000, status="pending")
    exc = world.exception("unmatched_payment")
    with pytest.raises(r.ResolutionError, match="pending"):
        world.run(r.apply_to_invoice, exc, j, 5000, CLERK)
    world.pay("pi_ach", 5000)
    world.run(r.apply_to_invoice, exc, j, 5000, CLERK)
    assert world.paid(j) == [5000]


# keep as customer credit


def test_an_overpayment_kept_as_credit_leaves_the_invoice_paid_once(world):
    a, p2, exc = _overpaid(world)
    done = world.run(r.keep_as_credit, exc, CLERK)
    assert world.paid(a) == [10000]
    assert _credits(world) == [(world.customer_of(a), "USD", 6000, f"exception:{exc}")]
    assert done.after["resolution"]["credit_id"] is not None
    world.verify()
    with pytest.raises(r.AlreadyResolved):
        world.run(r.keep_as_credit, exc, CLERK)
    assert len(_credits(world)) == 1
    world.pay("pi_2", 6000, refunds=(6000,))  # refunding the credited money: A stays paid
    assert world.paid(a) == [10000]
    world.verify()


def test_part_of_a_payment_kept_as_credit_is_a_credit_transfer(world):
    a, p2, exc = _overpaid(world, 7000, 5000)
    world.run(r.keep_as_credit, exc, CLERK)
    assert world.paid(a) == [10000]
    assert _kinds(world)[-1] == (a, "credit_transfer", -2000)
    assert _credits(world)[0][2] == 2000
    world.pay("pi_2", 5000, refunds=(2000,))  # the credited part is what a refund takes
    assert world.paid(a) == [10000]
    world.verify()


def test_a_voided_invoices_share_kept_as_credit(world):
    a, b = world.invoice("A", 3000), world.invoice("B", 2000)
    reference = world.attempt([(a, 3000), (b, 2000)])
    world.api.post(f"/invoices/{b}/void")
    world.pay("pi_v", 5000, reference)
    world.run(r.keep_as_credit, world.exception("voided_invoice"), CLERK)
    assert world.paid(a, b) == [3000, 0]
    assert _credits(world)[0][2] == 2000
    world.verify()


def test_money_meant_for_an_invoice_in_another_currency_kept_as_credit(world):
    a, _b, exc = _mismatched(world)
    world.run(r.keep_as_credit, exc, CLERK)
    assert _credits(world)[0][1:3] == ("USD", 2000)
    assert world.paid(a) == [3000]
    world.verify()


def test_credit_needs_a_known_customer(world, db):
    world.invoice("J", 1000)
    world.pay("pi_anon", 5000)
    with pytest.raises(r.ResolutionError, match="no customer is known"):
        world.run(r.keep_as_credit, world.exception("unmatched_payment"), CLERK)
    with db.transaction() as session:
        session.execute(update(Customer).values(stripe_customer_id="cus_1"))
    world.pay("pi_known", 4000, stripe_customer="cus_1")
    exc = [e for e in world.exceptions() if e.amount == 4000][0].id
    world.run(r.keep_as_credit, exc, CLERK)
    assert _credits(world)[0][2] == 4000


def test_customer_credits_are_append_only(world, db):
    a, p2, exc = _overpaid(world)
    world.run(r.keep_as_credit, exc, CLERK)
    for statement in ("UPDATE customer_credits SET amount = 1", "DELETE FROM customer_credits"):
        with pytest.raises(IntegrityError), db.transaction() as session:
            session.execute(text(statement))
    assert _credits(world)[0][2] == 6000


# write off a small difference


def test_a_small_overpayment_written_off(world):
    a, p2, exc = _overpaid(world, 10000, 3)
    with pytest.raises(r.ResolutionError, match=r"more than the \$0.02"):
        world.run(r.write_off, exc, 3, CLERK, max_amount=2)
    with pytest.raises(r.ResolutionError, match="only 3 USD"):
        world.run(r.write_off, exc, 4, CLERK, max_amount=100)
    done = world.run(r.write_off, exc, 3, CLERK, max_amount=100)
    assert world.paid(a) == [10000]
    with world.db.reader() as session:
        entry = session.get(LedgerEntry, done.entry_ids[0])
        assert (entry.kind, entry.paid_delta, entry.cause) == ("adjustment", -3, f"writeoff:{exc}")
    with pytest.raises(r.AlreadyResolved):
        world.run(r.write_off, exc, 3, CLERK, max_amount=100)
    world.verify()


def test_a_small_reversal_after_confirmation_written_off(world):
    from payments.confirmations import queue

    a = world.invoice("A", 10000)
    pid = world.pay("pi_1", 10000, world.attempt([(a, 10000)]))
    world.run(queue.confirm, [pid], CLERK)
    world.pay("pi_1", 10000, refunds=(5,))
    exc = world.exception("reversal_after_confirmation")
    with pytest.raises(r.WrongKind):
        world.run(r.apply_to_invoice, exc, a, 5, CLERK)
    with pytest.raises(r.WrongKind):
        world.run(refunds.request_refund, exc, 5, CLERK)
    world.run(r.write_off, exc, 5, CLERK, max_amount=100)
    assert world.paid(a) == [10000]
    world.verify()


def test_a_partial_write_off_leaves_the_rest(world):
    a, p2, exc = _overpaid(world, 10000, 50)
    done = world.run(r.write_off, exc, 20, CLERK, max_amount=20)
    assert world.exceptions("overpayment")[0].amount == 30
    assert done.follow_up_id == world.exception("overpayment")
    world.verify()


def test_write_off_fits_only_differences(world):
    world.pay("pi_u", 5000)
    exc = world.exception("unmatched_payment")
    with pytest.raises(r.WrongKind, match="write off does not resolve an unmatched payment"):
        world.run(r.write_off, exc, 1, CLERK, max_amount=100)


# dismiss


def test_dismiss_needs_a_reason_and_closes_the_exception(world):
    world.pay("pi_u", 5000)
    exc = world.exception("unmatched_payment")
    for blank in ("", "   ", None):
        with pytest.raises(r.ResolutionError, match="say why"):
            world.run(r.dismiss, exc, blank, CLERK)
    done = world.run(r.dismiss, exc, "  test charge by the bank  ", CLERK)
    assert done.after["resolution"] == {"action": "dismiss", "reason": "test charge by the bank"}
    assert world.exceptions() == []
    for action, args in ((r.dismiss, ("again",)), (r.keep_as_credit, ())):
        with pytest.raises(r.AlreadyResolved):
            world.run(action, exc, *args, CLERK)
    assert _resolution(world, exc)["action"] == "dismiss"


def test_every_kind_can_be_dismissed(world):
    a, p2, exc = _overpaid(world)
    world.run(r.dismiss, exc, "the customer asked us to keep it for next month", CLERK)
    assert world.paid(a) == [16000]  # nothing moved
    world.verify()


# refunds (the Stripe call itself is in tests/integration/test_resolutions_flow.py)


def test_a_refund_in_progress_blocks_other_actions_until_it_is_finished(world):
    j = world.invoice("J", 9000)
    world.pay("pi_u", 5000)
    exc = world.exception("unmatched_payment")
    request = world.run(refunds.request_refund, exc, 5000, CLERK)
    assert request.idempotency_key == f"portal-exception-{exc}-refund-5000"
    assert request.after["resolution"]["state"] == "requested"
    with pytest.raises(r.RefundInProgress, match="retry"):
        world.run(r.apply_to_invoice, exc, j, 100, CLERK)
    with pytest.raises(r.RefundInProgress):
        world.run(refunds.request_refund, exc, 4000, CLERK)
    again = world.run(refunds.request_refund, exc, 5000, CLERK)  # a retry resumes the same refund
    assert again.idempotency_key == request.idempotency_key
    world.run(refunds.record_refund, request, {"id": "re_x", "status": "succeeded"}, CLERK)
    with pytest.raises(r.AlreadyResolved, match="re_x"):
        world.run(refunds.record_refund, request, {"id": "re_x", "status": "succeeded"}, CLERK)
    assert _resolution(world, exc)["refund_id"] == "re_x"


def test_an_overpaid_invoice_is_put_last_before_its_refund(world):
    a, k = world.invoice("A", 10000), world.invoice("K", 2000)
    world.pay("pi_1", 10000, world.attempt([(a, 10000)]))
    world.pay("pi_2", 8000, world.attempt([(a, 6000), (k, 2000)]))
    exc = world.exception("overpayment")
    world.run(refunds.request_refund, exc, 6000, CLERK)
    with world.db.reader() as session:
        current = session.scalar(select(StaffAllocationSet).where(
            StaffAllocationSet.superseded_at.is_(None)))
        assert [(x.invoice_id, x.amount) for x in current.allocations] == [(k, 2000), (a, 6000)]
    world.pay("pi_2", 8000, refunds=(6000,))  # the refund's events: it comes off A
    assert world.paid(a, k) == [10000, 2000]
    world.verify()


# two clerks at once (PostgreSQL row locks; SQLite's writers queue)


def test_two_clerks_applying_one_exception_apply_it_once(world, db):
    j1, j2 = world.invoice("J1", 5000), world.invoice("J2", 5000)
    world.pay("pi_u", 5000)
    exc = world.exception("unmatched_payment")
    outcomes = at_once(db, *(lambda s, j=j: r.apply_to_invoice(s, exc, j, 5000, CLERK)
                              for j in (j1, j2)))
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyResolved", "Resolved"]
    assert sorted(world.paid(j1, j2)) == [0, 5000]
    world.verify()


def test_two_clerks_moving_money_of_one_payment_both_count(world, db):
    a, b, c = world.invoice("A", 3000), world.invoice("B", 2000), world.invoice("C", 1000)
    j1, j2 = world.invoice("J1", 5000), world.invoice("J2", 5000)
    reference = world.attempt([(a, 3000), (b, 2000), (c, 1000)])
    for void in (b, c):
        world.api.post(f"/invoices/{void}/void")
    world.pay("pi_v", 6000, reference)
    exc_b, exc_c = (e.id for e in world.exceptions("voided_invoice"))
    outcomes = at_once(db, lambda s: r.apply_to_invoice(s, exc_b, j1, 2000, CLERK),
                        lambda s: r.apply_to_invoice(s, exc_c, j2, 1000, CLERK))
    assert [type(o).__name__ for o in outcomes] == ["Resolved", "Resolved"]
    assert world.paid(a, b, c, j1, j2) == [3000, 0, 0, 2000, 1000]
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(StaffAllocationSet).where(
            StaffAllocationSet.superseded_at.is_(None))) == 1
        assert session.get(Payment, 1).amount == 6000
    world.verify()


def test_moving_a_confirmed_payments_money_sends_it_back_to_the_confirmation_queue(world, db):
    from payments.clock import utcnow
    from payments.confirmations import queue
    from payments.invoicing.models import Invoice

    a, b, j = world.invoice("A", 3000), world.invoice("B", 2000), world.invoice("J", 2000)
    pid = world.pay("pi_1", 5000, world.attempt([(a, 3000), (b, 2000)]))
    world.run(queue.confirm, [pid], CLERK)
    with db.transaction() as session:  # voided behind the API's back (it refuses: paid)
        session.execute(update(Invoice).where(Invoice.id == b).values(voided_at=utcnow()))
    world.pay("pi_1", 5000)
    done = world.run(r.apply_to_invoice, world.exception("voided_invoice"), j, 2000, CLERK)
    assert done.after["resolution"]["unconfirmed"]["confirmed_by"] == CLERK
    assert world.payment(pid).confirmed_at is None
    assert world.paid(a, b, j) == [3000, 0, 2000]
    assert world.exceptions() == []  # moving money is no reversal to report
    world.verify()


def test_a_voided_invoices_share_is_refunded_off_that_invoice(world):
    a, b = world.invoice("A", 3000), world.invoice("B", 2000)
    reference = world.attempt([(b, 2000), (a, 3000)])  # B first: a refund would hit A
    world.api.post(f"/invoices/{b}/void")
    world.pay("pi_v", 5000, reference)
    request = world.run(refunds.request_refund, world.exception("voided_invoice"), 2000, CLERK)
    world.run(refunds.record_refund, request, {"id": "re_pi_v_0", "status": "succeeded"}, CLERK)
    world.pay("pi_v", 5000, refunds=(2000,))
    assert world.paid(a, b) == [3000, 0]
    world.verify()


def test_a_refund_sent_but_not_yet_heard_of_is_not_applied_again(world):
    j, k = world.invoice("J", 3000), world.invoice("K", 5000)
    world.pay("pi_u", 5000)
    first = world.run(r.apply_to_invoice, world.exception("unmatched_payment"), j, 3000, CLERK)
    request = world.run(refunds.request_refund, first.follow_up_id, 1000, CLERK)
    done = world.run(refunds.record_refund, request, {"id": "re_pi_u_0", "status": "pending"},
                     CLERK)
    rest = done.follow_up_id
    with pytest.raises(r.ResolutionError, match=r"only \$10.00 is left"):
        world.run(r.apply_to_invoice, rest, k, 1001, CLERK)
    world.pay("pi_u", 5000, refunds=(1000,))  # the refund's event: now Stripe says so too
    with pytest.raises(r.ResolutionError, match=r"only \$10.00 is left"):
        world.run(r.apply_to_invoice, rest, k, 1001, CLERK)
    world.run(r.apply_to_invoice, rest, k, 1000, CLERK)
    assert world.paid(j, k) == [3000, 1000]
    world.verify()


def test_money_meant_for_an_invoice_in_another_currency_refunded(world):
    a, _b, exc = _mismatched(world)
    request = world.run(refunds.request_refund, exc, 2000, CLERK)
    world.run(refunds.record_refund, request, {"id": "re_pi_c_0", "status": "succeeded"}, CLERK)
    world.pay("pi_c", 5000, refunds=(2000,))
    assert world.paid(a) == [3000]
    assert world.exceptions() == []
    world.verify()


def test_an_exception_closed_with_a_plain_note_is_already_resolved(world, db):
    from payments.clock import utcnow

    world.pay("pi_u", 5000)
    exc = world.exception("unmatched_payment")
    with db.transaction() as session:
        session.execute(update(ReconciliationException).values(
            resolved_at=utcnow(), resolution="sorted out on the phone"))
    with pytest.raises(r.AlreadyResolved, match=r"already resolved \(resolved\)"):
        world.run(r.dismiss, exc, "again", CLERK)


OPS = st.lists(st.one_of(
    st.tuples(st.just("apply"), st.integers(0, 2), st.integers(1, 6000)),
    st.tuples(st.just("refund"), st.just(0), st.integers(1, 6000)),
    st.tuples(st.just("credit"), st.just(0), st.just(0))), min_size=1, max_size=8)
_RUNS = itertools.count()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_any_mix_of_applying_crediting_and_refunds_keeps_the_money_whole(world, ops):
    """An unmatched payment of 100.00 applied, credited and refunded in any order: the ledger
    verifies, a repeated sync adds nothing, and refunds take unapplied money first."""
    from payments.resolutions.core import credited, nets

    n = next(_RUNS)
    invoices = [world.invoice(f"H{n}-{i}", 100000) for i in range(3)]
    pi, refunds, applied = f"pi_h{n}", (), 0
    pid = world.pay(pi, 10000)
    for op, index, amount in ops:
        open_ = [e.id for e in world.exceptions() if e.payment_id == pid]
        try:
            if op == "apply" and open_:
                world.run(r.apply_to_invoice, open_[-1], invoices[index], amount, CLERK)
                applied += amount
            elif op == "credit" and open_:
                world.run(r.keep_as_credit, open_[-1], CLERK)
        except r.ResolutionError:
            pass  # more than is left, nothing left, or no customer yet: refused, fine
        if op == "refund" and sum(refunds) + amount <= 10000:
            refunds += (amount,)
            world.pay(pi, 10000, refunds=refunds)
        entries = world.entries()
        world.pay(pi, 10000, refunds=refunds)
        assert world.entries() == entries
        world.verify()
        with world.db.reader() as session:
            on_invoices, kept = nets(session, pid), credited(session, pid)
        assert all(v >= 0 for v in on_invoices.values())
        assert applied + kept <= 10000
        # Refunds come out of the money on no invoice (credited money included) first.
        assert sum(on_invoices.values()) == applied - max(0, sum(refunds) - (10000 - applied))


def test_an_overpayment_back_after_its_refund_failed_is_raised_again(world):
    a = world.invoice("A", 10000)
    world.pay("pi_1", 10000, world.attempt([(a, 10000)]))
    world.pay("pi_2", 6000, world.attempt([(a, 6000)]))
    first = world.exception("overpayment")
    request = world.run(refunds.request_refund, first, 6000, CLERK)
    world.run(refunds.record_refund, request, {"id": "re_pi_2_0", "status": "pending"}, CLERK)
    world.pay("pi_2", 6000, refunds=(6000,))
    assert world.paid(a) == [10000] and world.exceptions("overpayment") == []
    # Days later the bank returns the refund: the invoice is overpaid again, and staff must
    # hear of it, though the exception they resolved had the same invoice and payment.
    world.pay("pi_2", 6000, refunds=(6000,), failed=("re_pi_2_0",))
    assert world.paid(a) == [16000]
    again = world.exceptions("overpayment")
    assert len(again) == 1 and again[0] != first
    world.pay("pi_2", 6000, refunds=(6000,), failed=("re_pi_2_0",))  # a redelivery: no third
    assert len(world.exceptions("overpayment")) == 1
    world.verify()


def test_a_dismissed_overpayment_is_not_raised_again_while_nothing_changes(world):
    a = world.invoice("A", 10000)
    world.pay("pi_1", 10000, world.attempt([(a, 10000)]))
    world.pay("pi_2", 6000, world.attempt([(a, 6000)]))
    world.run(r.dismiss, world.exception("overpayment"), "customer asked us to keep it", CLERK)
    world.pay("pi_2", 6000, refunds=(1000,))  # a partial refund: still overpaid, less so
    assert world.exceptions("overpayment") == []
    world.verify()

"""The ledger converges on the facts: any order, any repetition, same balances."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry, Payment
from payments.stripe.facts import PaymentFacts, Reduction
from tests.factories import lines_totalling


@pytest.fixture
def invoices(api):
    """Two invoices of $100.00 and $50.00 for one customer."""
    a = api.create(external_id="A", number="A", **lines_totalling(1, 10000))
    b = api.create(external_id="B", number="B", **lines_totalling(1, 5000))
    return a["id"], b["id"]


def _payment(db, amount: int, pi: str = "pi_1") -> int:
    with db.transaction() as session:
        payment = Payment(payment_intent_id=pi, currency="USD", amount=amount, status="pending")
        session.add(payment)
        session.flush()
        return payment.id


def _apply(db, payment_id: int, allocations, facts: PaymentFacts) -> int:
    with db.transaction() as session:
        payment = session.get(Payment, payment_id)
        return len(ledger.reconcile_payment(session, payment, allocations, facts).entries)


def _balances(db, *ids):
    with db.reader() as session:
        return [tuple(session.execute(select(Invoice.amount_paid, Invoice.amount_pending)
                                      .where(Invoice.id == i)).one()) for i in ids]


def test_ach_pending_then_cleared(db, invoices):
    a, _b = invoices
    pid = _payment(db, 10000)
    alloc = [(a, 10000)]
    assert _apply(db, pid, alloc, PaymentFacts("pending")) == 1
    assert _balances(db, a) == [(0, 10000)]  # pending is never counted paid
    assert _apply(db, pid, alloc, PaymentFacts("succeeded")) == 2  # release + payment
    assert _balances(db, a) == [(10000, 0)]
    assert _apply(db, pid, alloc, PaymentFacts("succeeded")) == 0  # duplicate: no-op


def test_ach_failure_restores_the_balance(db, invoices):
    a, _b = invoices
    pid = _payment(db, 4000)
    _apply(db, pid, [(a, 4000)], PaymentFacts("pending"))
    _apply(db, pid, [(a, 4000)], PaymentFacts("failed"))
    assert _balances(db, a) == [(0, 0)]


def test_dispute_lost_reopens_and_won_restores(db, invoices):
    a, _b = invoices
    lost, won = _payment(db, 10000, "pi_lost"), _payment(db, 10000, "pi_won")
    withdrawn = (Reduction("du_1:withdrawn", "dispute_withdrawal", 10000),)
    _apply(db, lost, [(a, 10000)], PaymentFacts("succeeded", withdrawn))
    assert _balances(db, a) == [(0, 0)]  # paid, then taken back: the invoice is open again
    withdrawn2 = (Reduction("du_2:withdrawn", "dispute_withdrawal", 10000),)
    _apply(db, won, [(a, 10000)], PaymentFacts("succeeded", withdrawn2))
    assert _balances(db, a) == [(0, 0)]
    _apply(db, won, [(a, 10000)], PaymentFacts("succeeded", withdrawn2, ("du_2",)))
    assert _balances(db, a) == [(10000, 0)]


def test_two_partial_refunds_then_the_rest(db, invoices):
    a, _b = invoices
    pid = _payment(db, 10000)
    refunds: tuple[Reduction, ...] = ()
    for i, amount in enumerate((2500, 1500, 6000)):
        refunds += (Reduction(f"re_{i}", "refund", amount),)
        _apply(db, pid, [(a, 10000)], PaymentFacts("succeeded", refunds))
    assert _balances(db, a) == [(0, 0)]


def test_refunds_come_off_the_last_allocated_invoice_first(db, invoices):
    a, b = invoices
    pid = _payment(db, 15000)
    alloc = [(a, 10000), (b, 5000)]
    _apply(db, pid, alloc, PaymentFacts("succeeded", (Reduction("re_1", "refund", 7000),)))
    assert _balances(db, a, b) == [(8000, 0), (0, 0)]


def test_a_failed_refund_is_reversed(db, invoices):
    a, _b = invoices
    pid = _payment(db, 10000)
    _apply(db, pid, [(a, 10000)], PaymentFacts("succeeded", (Reduction("re_1", "refund", 3000),)))
    _apply(db, pid, [(a, 10000)], PaymentFacts("succeeded"))  # stale: says nothing of re_1
    assert _balances(db, a) == [(7000, 0)]
    _apply(db, pid, [(a, 10000)], PaymentFacts("succeeded", failed_reductions=("re_1",)))
    assert _balances(db, a) == [(10000, 0)]
    with db.reader() as session:
        kinds = sorted(session.scalars(select(LedgerEntry.kind)))
    assert kinds == ["payment", "refund", "refund_reversed"]


def test_verify_finds_a_balance_written_behind_the_ledgers_back(db, invoices):
    a, b = invoices
    pid = _payment(db, 10000)
    _apply(db, pid, [(a, 10000)], PaymentFacts("succeeded"))
    with db.reader() as session:
        assert ledger.verify(session) == []
    with db.transaction() as session:
        session.execute(update(Invoice).where(Invoice.id == b).values(amount_paid=1))
    with db.reader() as session:
        assert ledger.verify(session) == [ledger.Difference(b, (1, 0), (0, 0))]


_EXAMPLES = itertools.count()
SHAPES = st.fixed_dictionaries({
    "pending_first": st.booleans(), "fails": st.booleans(),
    "refunds": st.lists(st.integers(1, 3000), max_size=3),
    "disputed": st.booleans(), "won": st.booleans(),
})


def snapshots(pi: str, shape: dict) -> list[PaymentFacts]:
    """A payment's true life at Stripe as snapshots, each one later than the one before."""
    snaps = [PaymentFacts("pending")] if shape["pending_first"] else []
    if snaps and shape["fails"]:
        return [*snaps, PaymentFacts("failed")]
    reductions: tuple[Reduction, ...] = ()
    snaps.append(PaymentFacts("succeeded"))
    for i, amount in enumerate(shape["refunds"]):
        reductions += (Reduction(f"re_{pi}_{i}", "refund", amount),)
        snaps.append(PaymentFacts("succeeded", reductions))
    if shape["disputed"]:
        reductions += (Reduction(f"du_{pi}:withdrawn", "dispute_withdrawal", 2000),)
        snaps.append(PaymentFacts("succeeded", reductions))
        if shape["won"]:
            snaps.append(PaymentFacts("succeeded", reductions, (f"du_{pi}",)))
    return snaps


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=SHAPES, data=st.data())
def test_any_order_with_duplicates_ends_in_the_same_balances(db, invoices, shape, data):
    """Deliver a payment's snapshots shuffled and repeated: the balances are those of its
    latest snapshot alone, and the stored balances agree with the ledger."""
    n = next(_EXAMPLES)  # one database serves every example: new payments each time
    replayed_pi, direct_pi = f"pi_{n}", f"pi_{n}_direct"
    snaps = snapshots(replayed_pi, shape)
    deliveries = data.draw(st.lists(st.sampled_from(snaps), max_size=8)) + [snaps[-1]]
    deliveries = data.draw(st.permutations(deliveries))
    a, b = invoices
    alloc = [(a, 10000), (b, 5000)]
    replayed, direct = _payment(db, 15000, replayed_pi), _payment(db, 15000, direct_pi)
    for facts in deliveries:
        _apply(db, replayed, alloc, facts)
    _apply(db, direct, alloc, snapshots(direct_pi, shape)[-1])
    assert _per_invoice(db, replayed) == _per_invoice(db, direct)
    with db.reader() as session:
        assert ledger.verify(session) == []


def _per_invoice(db, payment_id: int) -> dict[int, tuple[int, int]]:
    with db.reader() as session:
        rows = session.execute(
            select(LedgerEntry.invoice_id, func.sum(LedgerEntry.paid_delta),
                   func.sum(LedgerEntry.pending_delta))
            .where(LedgerEntry.payment_id == payment_id).group_by(LedgerEntry.invoice_id))
        # An invoice whose entries cancel out is the same as one with no entries.
        return {inv: (paid, pending) for inv, paid, pending in rows if (paid, pending) != (0, 0)}


def test_concurrent_payments_on_one_invoice_lose_no_update(db, invoices):
    a, _b = invoices
    payment_ids = [_payment(db, 500, f"pi_conc_{i}") for i in range(10)]
    barrier = threading.Barrier(len(payment_ids))
    errors: list[BaseException] = []

    def settle(payment_id: int) -> None:
        barrier.wait()
        try:
            def work(session):
                payment = session.get(Payment, payment_id)
                ledger.reconcile_payment(session, payment, [(a, 500)], PaymentFacts("succeeded"))
            db.run(work)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=settle, args=(pid,)) for pid in payment_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert _balances(db, a) == [(5000, 0)]
    with db.reader() as session:
        assert ledger.verify(session) == []

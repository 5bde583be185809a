"""Real payments without the network: attempts recorded as checkout records them, and Stripe's
PaymentIntents handed to reconciliation as readings (what the webhook pipeline reads from
Stripe before its transaction). Shared by the confirmation and resolution tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from payments.checkout import start
from payments.clock import utcnow
from payments.invoicing.models import Invoice
from payments.ledger import ledger, reconcile
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException
from payments.reads import Reads
from payments.stripe.facts import PaymentFacts, Reduction
from tests.factories import lines_totalling


@dataclass
class World:
    """Invoices through the API, payments through reconciliation, on the test's database."""

    api: Any
    db: Any

    def invoice(self, ext: str, total: int, currency: str = "USD",
                customer: str = "CUST-1") -> int:
        """An open invoice of ``total`` (number = ``ext``); returns its id."""
        body = self.api.create(external_id=ext, number=ext, currency=currency,
                               customer={"external_id": customer, "name": f"Customer {customer}",
                                         "email": "ap@example.com"},
                               **lines_totalling(1, total))
        return body["id"]

    def customer_of(self, invoice_id: int) -> int:
        with self.db.reader() as session:
            return session.get(Invoice, invoice_id).customer_id

    def attempt(self, allocations: list[tuple[int, int]], currency: str = "USD") -> str:
        """Record a payment attempt as checkout does; returns its reference."""
        customer_id = self.customer_of(allocations[0][0])
        with self.db.transaction() as session:
            begun = start.begin(session, customer_id, currency, allocations)
            begun.attempt.status = "completed"  # so the next attempt is a new one
            return begun.attempt.reference

    def pay(self, pi: str, amount: int, reference: str | None = None, currency: str = "USD",
            status: str = "succeeded", refunds: tuple[int, ...] = (),
            disputes: tuple[tuple[str, int, bool], ...] = (), failed: tuple[str, ...] = (),
            description: str = "", stripe_customer: str | None = None) -> int:
        """Reconcile PaymentIntent ``pi`` as Stripe shows it now; returns the payment id.

        ``refunds`` are amounts (ids ``re_<pi>_<n>``); ``disputes`` are (id, amount, won).
        """
        reductions = [Reduction(f"re_{pi}_{n}", "refund", amount)
                      for n, amount in enumerate(refunds)]
        reductions += [Reduction(f"{d}:withdrawn", "dispute_withdrawal", a)
                       for d, a, _won in disputes]
        facts = PaymentFacts(status, tuple(reductions),
                             tuple(d for d, _a, won in disputes if won), failed)
        intent = {"id": pi, "object": "payment_intent", "amount": amount,
                  "currency": currency.lower(), "description": description,
                  "customer": stripe_customer,
                  "status": {"pending": "processing"}.get(status, status),
                  "metadata": {reconcile.ATTEMPT_METADATA_KEY: reference} if reference else {},
                  "latest_charge": {"id": f"ch_{pi}",
                                    "payment_method_details": {"type": "card"}}}
        with self.db.transaction() as session:
            reads = Reads(known={pi: reconcile.Reading(utcnow(), intent, facts)})
            payment = reconcile.sync_payment(session, reads, pi)
            return payment.id

    def paid(self, *invoice_ids: int) -> list[int]:
        """Each invoice's amount_paid."""
        with self.db.reader() as session:
            return [session.get(Invoice, i).amount_paid for i in invoice_ids]

    def exceptions(self, kind: str | None = None, open_only: bool = True
                   ) -> list[ReconciliationException]:
        with self.db.reader() as session:
            query = select(ReconciliationException).order_by(ReconciliationException.id)
            if kind:
                query = query.where(ReconciliationException.kind == kind)
            if open_only:
                query = query.where(ReconciliationException.resolved_at.is_(None))
            return list(session.scalars(query))

    def exception(self, kind: str) -> int:
        """The id of the one open exception of ``kind``."""
        found = self.exceptions(kind)
        assert len(found) == 1, [(e.kind, e.cause) for e in self.exceptions()]
        return found[0].id

    def entries(self) -> int:
        with self.db.reader() as session:
            return session.scalar(select(func.count()).select_from(LedgerEntry))

    def verify(self) -> None:
        """The stored balances agree with the ledger, and no balance is negative."""
        with self.db.reader() as session:
            assert ledger.verify(session) == []
            assert session.scalar(select(func.count()).where(Invoice.amount_paid < 0)) == 0

    def payment(self, payment_id: int) -> Payment:
        with self.db.reader() as session:
            return session.get(Payment, payment_id)

    def run(self, work, *args, **kwargs):
        """``work(session, *args, **kwargs)`` in one transaction."""
        with self.db.transaction() as session:
            return work(session, *args, **kwargs)


@pytest.fixture
def world(api, db) -> World:
    """A :class:`World` on the test's database, creating invoices through the API."""
    return World(api, db)


def at_once(db, *works) -> list:
    """Run each ``work(session)`` in its own transaction and thread, released together;
    returns what each returned, or the exception it raised (two clerks at one moment)."""
    barrier = threading.Barrier(len(works))
    outcomes: list = [None] * len(works)

    def run(i, work):
        barrier.wait()
        try:
            with db.transaction() as session:
                outcomes[i] = work(session)
        except Exception as exc:  # noqa: BLE001  (the caller compares outcomes)
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes

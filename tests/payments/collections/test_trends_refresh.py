"""KPI trends and the daily refresh on a small hand-checked book.

As of Tuesday 2026-06-30 the recent period is 2026-04-02 … 06-30 (90 days, today included)
and the prior one 2026-01-02 … 04-01. Each invoice totals 1000 (USD unless said), all paid at
once; days to pay = paid day − issue day, days late = paid day − due day.

    SLOW   inv  issued  due     paid               to pay  late  period
           O1   25-11-01 25-12-01 2025-12-20       49      19    before both
           P1   01-05   02-04   02-14 12:00        40      10    prior
           P2   03-01   03-31   04-01 23:30        31       1    prior (its last minute)
           R1   03-03   04-02   04-02 00:30        30       0    recent (its first minute)
           R2   04-01   05-01   05-21              50      20    recent
           R3   05-01   05-31   06-15              45      15    recent
           open: X1 1000 due 06-01 (overdue), X2 2000 due 07-15 with 500 paid (owes 1500),
                 X3 EUR 3000 due 06-20 (overdue)
      prior (40 + 31) / 2 = 35.5; recent (30 + 50 + 45) / 3 = 41.67 → 41.7; worse by 6.17 → 6.2,
      more than 5: flagged. Late lately: R2, R3 → 17.5 days, 2 of 3.
    STEADY T1 01-10/02-09 paid 02-09 (30), T2 02-10/03-12 paid 03-12 (30),
           T3 04-10/05-10 paid 05-14 (34), T4 05-10/06-09 paid 06-13 (34)
      worse by 4.0: not flagged at 5, flagged at 3.
    FEW    F1 01-10/02-09 paid 01-30 (20), F2 04-10/05-10 paid 06-29 (80): one invoice per
           period, so no comparison and no flag; two paid invoices are too few to learn from.
    OPEN   one open invoice, nothing paid.   VOID  one voided invoice: no profile at all.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from payments.collections import profiles, refresh, timing, trends
from payments.collections.models import CollectionProfile
from payments.invoicing.models import Customer, Invoice
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry, Payment
from payments.staff import audit
from payments.stripe.facts import PaymentFacts
from tests.factories import lines_totalling

TODAY = date(2026, 6, 30)


def stamp(text: str) -> datetime:
    """``"2026-04-01 23:30"`` or ``"2026-04-01"`` (noon) as a UTC moment."""
    return datetime.fromisoformat(text if " " in text else f"{text} 12:00").replace(tzinfo=UTC)


class Book:
    """Invoices through the API, payments through the ledger, dated after the fact."""

    def __init__(self, api, db) -> None:
        self.api, self.db, self.ids = api, db, {}

    def invoice(self, ext: str, customer: str, issued: str, due: str, total: int = 1000,
                currency: str = "USD") -> int:
        body = self.api.create(external_id=f"{customer}-{ext}", number=f"{customer}-{ext}",
                               currency=currency, issue_date=issued, due_date=due,
                               customer={"external_id": customer, "name": customer.title(),
                                         "email": f"ap@{customer.lower()}.example"},
                               **lines_totalling(1, total))
        self.ids[f"{customer}-{ext}"] = body["id"]
        return body["id"]

    def pay(self, invoice_id: int, amount: int, when: str) -> None:
        pi = f"pi_{invoice_id}_{amount}"
        with self.db.transaction() as session:
            invoice = session.get(Invoice, invoice_id)
            payment = Payment(payment_intent_id=pi, customer_id=invoice.customer_id,
                              currency=invoice.currency, amount=amount, status="pending",
                              method="card")
            session.add(payment)
            session.flush()
            ledger.reconcile_payment(session, payment, [(invoice_id, amount)],
                                     PaymentFacts("succeeded"))
        with self.db.transaction() as session:
            done = session.execute(update(LedgerEntry).where(LedgerEntry.cause == f"{pi}:paid")
                                   .values(created_at=stamp(when)))
            assert done.rowcount == 1

    def paid(self, ext: str, customer: str, issued: str, due: str, when: str) -> int:
        invoice_id = self.invoice(ext, customer, issued, due)
        self.pay(invoice_id, 1000, when)
        return invoice_id

    def customer(self, external_id: str) -> int:
        with self.db.reader() as session:
            return session.scalar(select(Customer.id).where(Customer.external_id == external_id))


@pytest.fixture
def book(api, db) -> Book:
    b = Book(api, db)
    for row in (("O1", "2025-11-01", "2025-12-01", "2025-12-20"),
                ("P1", "2026-01-05", "2026-02-04", "2026-02-14"),
                ("P2", "2026-03-01", "2026-03-31", "2026-04-01 23:30"),
                ("R1", "2026-03-03", "2026-04-02", "2026-04-02 00:30"),
                ("R2", "2026-04-01", "2026-05-01", "2026-05-21"),
                ("R3", "2026-05-01", "2026-05-31", "2026-06-15")):
        b.paid(row[0], "SLOW", *row[1:])
    b.invoice("X1", "SLOW", "2026-05-02", "2026-06-01")
    b.pay(b.invoice("X2", "SLOW", "2026-06-15", "2026-07-15", total=2000), 500, "2026-06-20")
    b.invoice("X3", "SLOW", "2026-05-21", "2026-06-20", total=3000, currency="EUR")
    for row in (("T1", "2026-01-10", "2026-02-09", "2026-02-09"),
                ("T2", "2026-02-10", "2026-03-12", "2026-03-12"),
                ("T3", "2026-04-10", "2026-05-10", "2026-05-14"),
                ("T4", "2026-05-10", "2026-06-09", "2026-06-13")):
        b.paid(row[0], "STEADY", *row[1:])
    b.paid("F1", "FEW", "2026-01-10", "2026-02-09", "2026-01-30")
    b.paid("F2", "FEW", "2026-04-10", "2026-05-10", "2026-06-29")
    b.invoice("N1", "OPEN", "2026-06-01", "2026-07-01")
    void = b.invoice("V1", "VOID", "2026-06-01", "2026-07-01")
    assert b.api.post(f"/invoices/{void}/void").status_code == 200
    return b


def test_trends_by_hand(book, db):
    with db.reader() as session:
        found = trends.compute(session, TODAY)
    slow = found[book.customer("SLOW")]
    assert slow == trends.Trend(
        as_of="2026-06-30", recent_paid=3, recent_days="41.7", prior_paid=2, prior_days="35.5",
        late_paid=2, late_days="17.5", open_count=3, overdue_count=2,
        open_amounts={"EUR": 3000, "USD": 2500}, overdue_amounts={"EUR": 3000, "USD": 1000},
        change="6.2", flag=True)
    assert "41.7 days on average lately against 35.5 before: 6.2 days slower" in slow.words()
    assert slow.words().endswith("Paying is getting worse.")
    steady = found[book.customer("STEADY")]
    assert (steady.recent_days, steady.prior_days, steady.change, steady.flag) == \
        ("34.0", "30.0", "4.0", False)
    assert (steady.late_paid, steady.late_days, steady.open_count) == (2, "4.0", 0)
    few = found[book.customer("FEW")]
    assert (few.recent_paid, few.prior_paid, few.change, few.flag) == (1, 1, None, False)
    assert "Too few paid invoices to compare" in few.words()
    assert found[book.customer("OPEN")].open_count == 1
    assert book.customer("VOID") not in found
    assert trends.Trend.from_json(slow.as_json()) == slow


def test_the_threshold_is_a_parameter(book, db):
    with db.reader() as session:
        at_three = trends.compute(session, TODAY, threshold=3)
        only_steady = trends.compute(session, TODAY, [book.customer("STEADY")], threshold=3)
    assert at_three[book.customer("STEADY")].flag
    assert list(only_steady) == [book.customer("STEADY")] and only_steady[
        book.customer("STEADY")] == at_three[book.customer("STEADY")]


def profiles_by_customer(db) -> dict[int, CollectionProfile]:
    with db.reader() as session:
        return {p.customer_id: p for p in session.scalars(select(CollectionProfile))}


def test_refresh_learns_and_flags_and_runs_twice_the_same(book, db):
    steady = book.customer("STEADY")
    with db.transaction() as session:  # staff's settings, before any refresh
        profiles.save(session, audit.CLI, steady, {"do_not_chase": "1", "learn_timing": "1",
                                                   "hours_start": "8", "hours_end": "16",
                                                   "business_days": "12345"})
    changed_at = profiles_by_customer(db)[steady].updated_at
    with db.transaction() as session:
        written = refresh.refresh(session, TODAY)
    found = profiles_by_customer(db)
    ids = {name: book.customer(name) for name in ("SLOW", "STEADY", "FEW", "OPEN", "VOID")}
    assert written == 4 and set(found) == {ids[n] for n in ("SLOW", "STEADY", "FEW", "OPEN")}
    slow = found[ids["SLOW"]]
    # Newest first, weights 12…7: R3 15, R2 20, R1 0, P2 1, P1 10, O1 19 (total 57). By value:
    # 0 (10), 1 (19), 10 (27), 15 (39), 19 (46), 20 (57): median 28.5 → 15, quartiles
    # 14.25 → 1 and 42.75 → 19; the mean of equal amounts is 65 / 6 = 10.8.
    assert timing.Learned.from_json(slow.learned) == timing.Learned(6, 15, "10.8", 1, 19)
    assert slow.trend_flag and slow.trend["change"] == "6.2" and slow.learned_on == TODAY
    few = timing.Learned.from_json(found[ids["FEW"]].learned)
    assert (few.count, few.usual) == (2, None)  # two paid invoices: nothing learned
    assert timing.Learned.from_json(found[ids["OPEN"]].learned) == timing.NOTHING
    kept = found[steady]  # staff's settings and their "last changed" survive the refresh
    assert (kept.do_not_chase, kept.hours_start, kept.updated_by) == (True, 8, "cli")
    assert kept.updated_at == changed_at and not kept.trend_flag
    assert timing.Learned.from_json(kept.learned).usual == 4
    with db.transaction() as session:
        assert refresh.refresh(session, TODAY) == 4
    again = profiles_by_customer(db)
    assert {c: (p.learned, p.trend, p.trend_flag, p.learned_on, p.updated_at)
            for c, p in again.items()} == {c: (p.learned, p.trend, p.trend_flag, p.learned_on,
                                               p.updated_at) for c, p in found.items()}


def test_a_flag_does_not_outlive_its_reason(book, db):
    with db.transaction() as session:
        refresh.refresh(session, TODAY)
    later = TODAY + timedelta(days=365)  # nothing paid in either period any more
    with db.transaction() as session:
        refresh.refresh(session, later, warn_days=0)
        assert session.scalar(select(func.count()).where(CollectionProfile.trend_flag)) == 0
        assert set(session.scalars(select(CollectionProfile.learned_on))) == {later}
        slow = session.get(CollectionProfile, book.customer("SLOW"))
        assert slow.trend["overdue_count"] == 3  # X2 is overdue by then too
        assert timing.Learned.from_json(slow.learned).usual == 15  # the habit stays learned


def test_the_dashboard_ranking_reads_the_flags(book, db):
    with db.transaction() as session:
        refresh.refresh(session, TODAY, warn_days=3)
    with db.reader() as session:
        shown, total = trends.flagged(session, limit=1)
    assert total == 2  # SLOW (6.2 days slower) and STEADY (4.0) at a 3-day threshold
    assert [(f.name, f.trend.change) for f in shown] == [("Slow", "6.2")]

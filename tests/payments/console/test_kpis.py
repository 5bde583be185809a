"""Dashboard KPIs on a small hand-checked book: every expected figure is worked out below.

The book, as of Thursday 2024-08-01 (ISO week from Monday 07-29; month from 08-01):

    inv  cur  issued  due    total  money (ledger entries, dated)
    A    USD  04-01   05-01  10000  none                                  owed 10000, 92 days → 90+
    B    USD  06-01   07-01  20000  +5000 on 06-20                        owed 15000, 31 d → 31-60
    C    USD  07-05   08-04  30000  +30000 on 07-30, refund −6000 07-31   owed  6000, current
    D    USD  06-15   07-15   8000  +8000 on 07-20                        paid
    E    USD  07-10   08-09   5000  voided on 07-12                       nowhere
    H    USD  07-25   08-24   7000  ACH pending 7000 since 07-31          owed  7000, current
    I    USD  04-20   05-20   9000  +4000 on 08-01                        owed  5000, 73 d → 61-90
    J    USD  08-05   09-04  99900  none (issued after as_of)             nowhere
    K    USD  07-20   08-19   1000  +1500 on 07-22 (overpaid)             owes nothing (a credit)
    F    EUR  07-15   07-25  40000  +10000 on 07-29                       owed 30000, 7 d → 1-30
    G    EUR  05-10   06-09  12000  +12000 on 08-02 (after as_of)         owed 12000, 53 d → 31-60
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update

from payments.console import kpis
from payments.console.kpis import Bucket, Takings
from payments.events.models import EventFailure
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException
from payments.stripe.facts import PaymentFacts, Reduction
from tests.factories import lines_totalling

AS_OF = date(2024, 8, 1)
EUR_CUSTOMER = {"external_id": "CUST-EU", "name": "Brandt GmbH", "email": "ap@brandt.example"}


def at(month: int, day: int, hour: int = 12) -> datetime:
    """A 2024 UTC timestamp."""
    return datetime(2024, month, day, hour, tzinfo=UTC)


def _invoice(api, name: str, currency: str, issued: date, due: date, total: int) -> int:
    extra = {"customer": EUR_CUSTOMER} if currency == "EUR" else {}
    body = api.create(external_id=name, number=name, currency=currency,
                      issue_date=issued.isoformat(), due_date=due.isoformat(),
                      **lines_totalling(1, total), **extra)
    return body["id"]


def _pay(db, pi: str, invoice_id: int, currency: str, amount: int, facts: PaymentFacts,
         dated: dict[str, datetime]) -> None:
    """Record a payment through the ledger, then date its entries (the ledger stamps "now")."""
    with db.transaction() as session:
        payment = Payment(payment_intent_id=pi, currency=currency, amount=amount,
                          status="pending")
        session.add(payment)
        session.flush()
        ledger.reconcile_payment(session, payment, [(invoice_id, amount)], facts)
    with db.transaction() as session:
        for cause, when in dated.items():
            done = session.execute(update(LedgerEntry).where(LedgerEntry.cause == cause)
                                   .values(created_at=when))
            assert done.rowcount == 1, cause


@pytest.fixture
def book(api, db):
    """The book of the module docstring; returns the invoice ids by letter."""
    ids = {
        "A": _invoice(api, "A", "USD", date(2024, 4, 1), date(2024, 5, 1), 10000),
        "B": _invoice(api, "B", "USD", date(2024, 6, 1), date(2024, 7, 1), 20000),
        "C": _invoice(api, "C", "USD", date(2024, 7, 5), date(2024, 8, 4), 30000),
        "D": _invoice(api, "D", "USD", date(2024, 6, 15), date(2024, 7, 15), 8000),
        "E": _invoice(api, "E", "USD", date(2024, 7, 10), date(2024, 8, 9), 5000),
        "H": _invoice(api, "H", "USD", date(2024, 7, 25), date(2024, 8, 24), 7000),
        "I": _invoice(api, "I", "USD", date(2024, 4, 20), date(2024, 5, 20), 9000),
        "J": _invoice(api, "J", "USD", date(2024, 8, 5), date(2024, 9, 4), 99900),
        "K": _invoice(api, "K", "USD", date(2024, 7, 20), date(2024, 8, 19), 1000),
        "F": _invoice(api, "F", "EUR", date(2024, 7, 15), date(2024, 7, 25), 40000),
        "G": _invoice(api, "G", "EUR", date(2024, 5, 10), date(2024, 6, 9), 12000),
    }
    assert api.post(f"/invoices/{ids['E']}/void").status_code == 200
    ok = PaymentFacts("succeeded")
    _pay(db, "pi_b", ids["B"], "USD", 5000, ok, {"pi_b:paid": at(6, 20)})
    _pay(db, "pi_c", ids["C"], "USD", 30000,
         PaymentFacts("succeeded", (Reduction("re_c", "refund", 6000),)),
         {"pi_c:paid": at(7, 30), "re_c": at(7, 31)})
    _pay(db, "pi_d", ids["D"], "USD", 8000, ok, {"pi_d:paid": at(7, 20)})
    _pay(db, "pi_h", ids["H"], "USD", 7000, PaymentFacts("pending"),
         {"pi_h:pending": at(7, 31)})
    _pay(db, "pi_i", ids["I"], "USD", 4000, ok, {"pi_i:paid": at(8, 1, 8)})
    _pay(db, "pi_f", ids["F"], "EUR", 10000, ok, {"pi_f:paid": at(7, 29, 9)})
    _pay(db, "pi_g", ids["G"], "EUR", 12000, ok, {"pi_g:paid": at(8, 2, 9)})
    _pay(db, "pi_k", ids["K"], "USD", 1500, ok, {"pi_k:paid": at(7, 22)})
    with db.transaction() as session:
        session.execute(update(Invoice).where(Invoice.id == ids["E"])
                        .values(voided_at=at(7, 12)))
        confirmed = Payment.payment_intent_id.in_(["pi_b", "pi_d", "pi_k"])
        session.execute(update(Payment).where(confirmed).values(confirmed_at=at(7, 25)))
        session.add_all([
            ReconciliationException(kind="unmatched_payment", cause="unmatched:pi_x",
                                    amount=100, currency="USD"),
            ReconciliationException(kind="overpayment", cause="overpaid:1:1", amount=5,
                                    currency="USD", resolved_at=at(7, 30), resolution="ok"),
            EventFailure(event_id="evt_1", type="charge.refunded", error_type="KeyError",
                         error_message="x"),
            EventFailure(event_id="evt_2", type="charge.refunded", error_type="KeyError",
                         error_message="x", resolved_at=at(7, 30)),
        ])
    with db.reader() as session:
        assert ledger.verify(session) == []
    return ids


def test_aging_as_of_the_day(db, book):
    with db.reader() as session:
        result = kpis.aging(session, AS_OF)
    # USD: current C 6000 + H 7000 (pending is still owed); B 15000 in 31-60 (due 07-01, 31
    # days); I 5000 in 61-90 (due 05-20, 73 days); A 10000 in 90+ (due 05-01, 92 days).
    # D is paid, K overpaid (not negative AR), E void, J not yet issued.
    assert result["USD"].buckets == (
        Bucket("current", 13000, 2), Bucket("1-30", 0, 0), Bucket("31-60", 15000, 1),
        Bucket("61-90", 5000, 1), Bucket("90+", 10000, 1))
    assert (result["USD"].total, result["USD"].count) == (43000, 5)
    # EUR: F 40000 − 10000 = 30000, due 07-25: 7 days; G paid on 08-02, after as_of, so its
    # 12000 was still owed on 08-01: due 06-09, 53 days.
    assert result["EUR"].buckets == (
        Bucket("current", 0, 0), Bucket("1-30", 30000, 1), Bucket("31-60", 12000, 1),
        Bucket("61-90", 0, 0), Bucket("90+", 0, 0))
    assert list(result) == ["EUR", "USD"]


def test_aging_on_a_past_day_rolls_the_ledger_back(db, book):
    with db.reader() as session:
        result = kpis.aging(session, date(2024, 7, 11))
        eur_only = kpis.aging(session, date(2024, 7, 11), currency="EUR")
    # As of 07-11: C (30000, nothing paid yet, due 08-04), D (8000, paid 07-20, due 07-15) and
    # E (5000, voided the next day, due 08-09) are current: 43000 in 3. B 15000 (5000 paid
    # 06-20) is 10 days past due; I 9000 (its 4000 came 08-01) 52 days; A 10000 71 days.
    # H, F, J and K were not issued yet; G (12000, EUR) is due 06-09: 32 days.
    assert result["USD"].buckets == (
        Bucket("current", 43000, 3), Bucket("1-30", 15000, 1), Bucket("31-60", 9000, 1),
        Bucket("61-90", 10000, 1), Bucket("90+", 0, 0))
    assert result["EUR"].buckets[2] == Bucket("31-60", 12000, 1)
    assert result["EUR"].total == 12000
    assert list(eur_only) == ["EUR"] and eur_only["EUR"] == result["EUR"]


def test_dso(db, book):
    with db.reader() as session:
        result = kpis.dso(session, AS_OF)
    # 90 days: 05-04 to 08-01. USD credit sales: B 20000 + C 30000 + D 8000 + H 7000 + K 1000
    # = 66000 (A and I were issued in April, E is void, J comes later). AR 43000 (the aging
    # total; K's overpayment is not netted). 43000 / 66000 × 90 = 58.636… → 58.6.
    assert result["USD"] == kpis.Dso("USD", 43000, 66000, 90, Decimal("58.6"))
    # EUR: sales F 40000 + G 12000 (05-10) = 52000; AR 42000. 42000 / 52000 × 90 = 72.69…
    assert result["EUR"] == kpis.Dso("EUR", 42000, 52000, 90, Decimal("72.7"))


def test_dso_on_a_past_day_agrees_with_aging(db, book):
    with db.reader() as session:
        result = kpis.dso(session, date(2024, 7, 11), period_days=30)
        aged = kpis.aging(session, date(2024, 7, 11))
    # AR rolled back through the ledger without per-invoice netting (see the aging test):
    # 77000 USD. Sales 06-12..07-11: D 8000 + C 30000 + E 5000 (void only on 07-12) = 43000.
    # 77000 / 43000 × 30 = 53.72… → 53.7. EUR: G 12000 owed, issued in May: no sales.
    assert result["USD"] == kpis.Dso("USD", 77000, 43000, 30, Decimal("53.7"))
    assert result["USD"].receivables == aged["USD"].total
    assert result["EUR"] == kpis.Dso("EUR", 12000, 0, 30, None)


def test_dso_without_sales_has_no_days(db, book):
    with db.reader() as session:
        result = kpis.dso(session, date(2024, 4, 10), period_days=5)
    # 04-06 to 04-10: nothing issued; A (issued 04-01, 10000) is receivable.
    assert result == {"USD": kpis.Dso("USD", 10000, 0, 5, None)}


def test_cei(db, book):
    with db.reader() as session:
        result = kpis.cei(session, AS_OF)
    # 30 days: beginning = end of 07-02, sales issued 07-03..08-01, ending = end of 08-01.
    # USD beginning: A 10000 + B 15000 + D 8000 (paid 07-20) + I 9000 (4000 paid 08-01)
    # = 42000. Sales: C 30000 + H 7000 + K 1000 = 38000 (E is void by 08-01: left out
    # everywhere). Ending 43000, of it current (due on or after 08-01): C 6000 + H 7000 = 13000.
    # (42000 + 38000 − 43000) / (42000 + 38000 − 13000) × 100 = 37000 / 67000 = 55.22… → 55.2
    assert result["USD"] == kpis.Cei("USD", 42000, 38000, 43000, 13000, Decimal("55.2"))
    # EUR: beginning G 12000; sales F 40000; ending 42000, none current.
    # (12000 + 40000 − 42000) / (12000 + 40000 − 0) × 100 = 10000 / 52000 = 19.23… → 19.2
    assert result["EUR"] == kpis.Cei("EUR", 12000, 40000, 42000, 0, Decimal("19.2"))


def test_collected_this_week_and_month(db, book):
    with db.reader() as session:
        result = kpis.collected(session, AS_OF)
        usd_only = kpis.collected(session, AS_OF, currency="USD")
    # Week 07-29..08-01. USD: C +30000 (07-30), refund −6000 (07-31), I +4000 (08-01):
    # gross 34000, net 28000. Month 08-01 only: I 4000. B and D were earlier; H is pending.
    assert result["USD"] == kpis.Collected("USD", Takings(34000, 28000), Takings(4000, 4000))
    # EUR: F +10000 on 07-29 (in the week, not the month); G's 08-02 is after as_of.
    assert result["EUR"] == kpis.Collected("EUR", Takings(10000, 10000), Takings(0, 0))
    assert list(usd_only) == ["USD"]


def test_collected_when_the_week_is_inside_the_month(db, book):
    with db.reader() as session:
        result = kpis.collected(session, date(2024, 7, 31))
    # Wednesday 07-31: week from 07-29, month from 07-01. USD: C +30000, −6000 in both;
    # D +8000 (07-20) and K +1500 (07-22) in the month only. EUR: F +10000 in both.
    assert result["USD"] == kpis.Collected("USD", Takings(30000, 24000), Takings(39500, 33500))
    assert result["EUR"] == kpis.Collected("EUR", Takings(10000, 10000), Takings(10000, 10000))


def test_pending_ach_and_queues(db, book):
    with db.reader() as session:
        pending = kpis.pending_ach(session)
        queues = kpis.queue_counts(session)
    assert pending == {"USD": kpis.Pending("USD", 7000, 1)}  # H's ACH debit
    # Succeeded and unconfirmed: pi_c, pi_i, pi_f, pi_g (pi_b, pi_d and pi_k were confirmed).
    assert queues == kpis.Queues(4, (("unmatched_payment", 1),), 1)
    assert queues.exceptions == 1


def test_an_empty_book(db):
    with db.reader() as session:
        assert kpis.aging(session, AS_OF) == {}
        assert kpis.dso(session, AS_OF) == {}
        assert kpis.cei(session, AS_OF) == {}
        assert kpis.collected(session, AS_OF) == {}
        assert kpis.pending_ach(session) == {}
        assert kpis.queue_counts(session) == kpis.Queues(0, (), 0)

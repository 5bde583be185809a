"""Staff's collections settings (checked, stored, audited; bad input stores nothing), contact
windows, "do not chase" on one invoice, and the customer's one timeline: every kind of entry,
newest first, paged without skipping or repeating."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from payments.collections import profiles, timeline
from payments.collections.log_models import CallLog, Contact
from payments.collections.models import (
    CollectionProfile,
    ContactWindow,
    InvoiceChase,
    Promise,
    ReminderPolicy,
)
from payments.console import notes
from payments.ledger import ledger
from payments.ledger.models import Payment
from payments.links import admin
from payments.links.models import PayLink
from payments.outbox.models import OutboxEmail
from payments.staff import audit
from payments.staff.models import AuditEntry
from payments.stripe.facts import PaymentFacts
from tests.staff_helpers import make_staff

pytestmark = pytest.mark.usefixtures("cheap_hashing")

GOOD = {"policy_id": "", "do_not_chase": "", "learn_timing": "1", "preferred_channel": "call",
        "contact_emails": "ap@north.example; Payables@North.example\nap@NORTH.example",
        "time_zone": "America/New_York", "hours_start": "8", "hours_end": "18",
        "business_days": "5142"}


@pytest.fixture
def customer(world) -> int:
    return world.customer_of(world.invoice("N-1", 5000, customer="NORTH"))


@pytest.fixture
def clerk(db) -> audit.Actor:
    user_id = make_staff(db, "clerk@acme.example", "clerk")
    return audit.Actor(user_id, "clerk@acme.example")


def audited(db, action: str) -> list[AuditEntry]:
    with db.reader() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.id)))


def test_settings_are_checked_stored_and_audited(db, customer, clerk):
    with db.transaction() as session:
        policy = ReminderPolicy(name="Gentle")
        session.add(policy)
        session.flush()
        policy_id = policy.id
        profiles.save(session, clerk, customer, GOOD)
    with db.reader() as session:
        saved = session.get(CollectionProfile, customer)
        assert (saved.contact_emails, saved.business_days, saved.time_zone, saved.hours_start,
                saved.hours_end, saved.preferred_channel, saved.do_not_chase,
                saved.learn_timing, saved.updated_by) == (
            "ap@north.example, Payables@North.example", "1245", "America/New_York", 8, 18,
            "call", False, True, "clerk@acme.example")
    with db.transaction() as session:
        profiles.save(session, clerk, customer, {**GOOD, "policy_id": str(policy_id),
                                                 "do_not_chase": "1", "learn_timing": ""})
    first, second = audited(db, "collections.profile_save")
    assert first.before is None and first.after["hours_start"] == 8
    assert (first.target_type, first.target_id) == ("customer", str(customer))
    assert (second.before["do_not_chase"], second.after["do_not_chase"]) == (False, True)
    assert (second.after["policy_id"], second.after["learn_timing"]) == (policy_id, False)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "is not a time zone"),
    ({"contact_emails": "ap@north.example, not-an-address"}, "contact_emails",
     "'not-an-address' is not an email address"),
    ({"contact_emails": ",".join(f"ap{n}@north.example" for n in range(6))}, "contact_emails",
     "at most 5"),
    ({"hours_start": "17", "hours_end": "9"}, "hours_end", "end after they start"),
    ({"hours_start": "9", "hours_end": "25"}, "hours_end", "from 0 to 24"),
    ({"hours_start": "nine"}, "hours_start", "from 0 to 24"),
    ({"business_days": ""}, "business_days", "at least one business day"),
    ({"policy_id": "999"}, "policy_id", "Choose one of the policies"),
    ({"preferred_channel": "fax"}, "preferred_channel", "email, letter or call"),
])
def test_bad_settings_store_nothing(db, customer, clerk, changes, field, message):
    with db.transaction() as session, pytest.raises(profiles.ProfileError) as refused:
        profiles.save(session, clerk, customer, {**GOOD, **changes})
    assert list(refused.value.fields) == [field]
    assert message in refused.value.fields[field]
    with db.reader() as session:
        assert session.get(CollectionProfile, customer) is None
    assert audited(db, "collections.profile_save") == []


def test_contact_windows_are_added_and_removed(db, world, customer, clerk):
    with db.transaction() as session:
        away = profiles.add_window(session, clerk, customer, "monthly", " 15 ", "21", "away")
        profiles.add_window(session, clerk, customer, "yearly", "12-24", "1-2", "")
        profiles.add_window(session, clerk, customer, "dates", "2027-03-01", "2027-03-12")
        away_id = away.id
    with db.reader() as session:
        shown = profiles.view(session, customer).windows
    assert [(w.kind, w.start, w.end, w.label) for w, _ in shown] == [
        ("monthly", "15", "21", "away"), ("yearly", "12-24", "01-02", None),
        ("dates", "2027-03-01", "2027-03-12", None)]
    assert [words for _, words in shown] == ["days 15–21 of every month (away)",
                                             "Dec 24 – Jan 2 every year",
                                             "2027-03-01 to 2027-03-12"]
    with db.transaction() as session, pytest.raises(profiles.ProfileError, match="MM-DD"):
        profiles.add_window(session, clerk, customer, "yearly", "02-30", "03-01")
    other = world.customer_of(world.invoice("S-1", 100, customer="SOUTH"))
    with db.transaction() as session, pytest.raises(profiles.ProfileError, match="no such"):
        profiles.remove_window(session, clerk, other, away_id)  # not that customer's window
    with db.transaction() as session:
        profiles.remove_window(session, clerk, customer, away_id)
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(ContactWindow)) == 2
    added, removed = audited(db, "collections.window_add"), audited(db, "collections.window_remove")
    assert len(added) == 3 and added[0].after["label"] == "away"
    assert [r.before["window_id"] for r in removed] == [away_id]


def test_one_invoice_can_be_held_and_released(db, world, clerk):
    invoice_id = world.invoice("H-1", 700, customer="HOLD")
    with db.transaction() as session:
        profiles.set_invoice_hold(session, clerk, invoice_id, True)
    with db.reader() as session:
        assert session.get(InvoiceChase, invoice_id).do_not_chase
    with db.transaction() as session:
        profiles.set_invoice_hold(session, clerk, invoice_id, False)
    with db.reader() as session:
        chase = session.get(InvoiceChase, invoice_id)
        assert (chase.do_not_chase, chase.updated_by) == (False, "clerk@acme.example")
    assert [(e.target_id, e.before, e.after) for e in audited(db, "invoice.chase_hold")] == [
        (str(invoice_id), {"do_not_chase": False}, {"do_not_chase": True}),
        (str(invoice_id), {"do_not_chase": True}, {"do_not_chase": False})]
    with db.transaction() as session, pytest.raises(profiles.ProfileError, match="no such"):
        profiles.set_invoice_hold(session, clerk, 999_999, True)


def build_history(app, db, world, clerk) -> tuple[int, list[str]]:
    """One of everything, in this order; returns the customer and the titles expected,
    newest first."""
    invoice_id = world.invoice("T-1", 12_500, customer="TIME")
    customer = world.customer_of(invoice_id)
    policy = app.extensions["portal.links"]
    with db.transaction() as session:
        notes.add(session, clerk, customer, "Spoke to Dana in AP: invoices go to a new address.")
    with db.transaction() as session:
        sent = OutboxEmail(key="reminder:1", kind="reminder", to_address="ap@time.example",
                           subject="Invoice T-1 is due Friday", body="Hello…", status="sent")
        session.add(sent)
        session.flush()
        session.add(Contact(customer_id=customer, channel="email", day=date.today(),
                            status="queued", outbox_email_id=sent.id,
                            to_address="ap@time.example", subject="Invoice T-1 is due Friday",
                            body="Dear Time, invoice T-1 for $125.00 is due on Friday.",
                            why="3 days before due (courtesy)"))
    with db.transaction() as session:
        session.add(Contact(customer_id=customer, channel="letter", day=date.today(),
                            status="open", body="Dear Time, …", why="day +30: letter"))
    with db.transaction() as session:
        session.add(Contact(customer_id=customer, channel="call", day=date.today(),
                            status="open", why="day +21: call task"))
    with db.transaction() as session:
        session.add(CallLog(customer_id=customer, outcome="promise", note="Dana will pay Friday",
                            author_id=clerk.id, author_email=clerk.label))
    with db.transaction() as session:
        promise = Promise(customer_id=customer, amount=12_500, currency="USD",
                          promised_on=date(2026, 7, 3), contact="Dana", created_by=clerk.label)
        session.add(promise)
    with db.transaction() as session:
        admin.rotate(session, clerk, policy, admin.Target("statement", customer))
    with db.transaction() as session:
        payment = Payment(payment_intent_id="pi_time", customer_id=customer, currency="USD",
                          amount=12_500, status="pending", method="us_bank_account")
        session.add(payment)
        session.flush()
        ledger.reconcile_payment(session, payment, [(invoice_id, 12_500)],
                                 PaymentFacts("succeeded"))
    with db.transaction() as session:
        session.execute(update(Promise).values(status="kept", settled_at=datetime.now(UTC)))
    with db.transaction() as session:
        admin.revoke(session, clerk, policy, admin.Target("invoice", invoice_id))
    with db.transaction() as session:
        statement = session.scalar(select(PayLink.id).where(PayLink.customer_id == customer,
                                                             PayLink.revoked_at.is_(None)))
        session.add(OutboxEmail(key="fresh:1", kind="fresh_link", to_address="ap@time.example",
                                subject="Your statement", body="…", link_id=statement))
    with db.transaction() as session:
        session.add(Contact(customer_id=customer, channel="escalate", day=date.today(),
                            status="open", why="day +45: escalation"))
    with db.transaction() as session:
        profiles.set_invoice_hold(session, clerk, invoice_id, True)
    return customer, [
        "Invoice chasing changed on invoice T-1", "Escalation (open)",
        "Customer asked for a fresh statement link", "Pay link of invoice T-1 revoked",
        "Promise kept: $125.00 by 2026-07-03", "Payment of $125.00 by us bank account (succeeded)",
        "Statement link replaced (the old one stopped working)",
        "Promise to pay $125.00 by 2026-07-03", "Call: promise to pay", "Call task (open)",
        "Letter to print and mail (open)", "Reminder email sent: Invoice T-1 is due Friday",
        "Note"]


def test_the_timeline_merges_every_kind_newest_first(app, db, world, clerk):
    customer, titles = build_history(app, db, world, clerk)
    with db.transaction() as session:  # another customer's doings stay on its own timeline
        other = world.customer_of(world.invoice("O-1", 100, customer="OTHER"))
        notes.add(session, clerk, other, "Not about TIME.")
    with db.reader() as session:
        page = timeline.load(session, customer)
    assert [e.title for e in page.entries] == titles and page.next_before is None
    kinds = {e.kind for e in page.entries}
    assert kinds == {"note", "email", "letter", "call_task", "escalation", "call", "promise",
                     "payment", "link", "settings"}
    by_title = {e.title: e for e in page.entries}
    email = by_title["Reminder email sent: Invoice T-1 is due Friday"]
    assert "invoice T-1 for $125.00 is due on Friday" in email.detail
    assert "Why: 3 days before due (courtesy)" in email.detail and email.actor is None
    assert by_title["Call: promise to pay"].detail == "Dana will pay Friday"
    assert by_title["Note"].actor == "clerk@acme.example"
    assert "do_not_chase: False → True" in by_title["Invoice chasing changed on invoice T-1"] \
        .detail


def test_the_timeline_pages_back_without_gaps(app, db, world, clerk):
    customer, titles = build_history(app, db, world, clerk)
    seen, before = [], None
    with db.reader() as session:
        for _ in range(10):
            page = timeline.load(session, customer, before, limit=4)
            seen += [e.title for e in page.entries]
            before = page.next_before
            if before is None:
                break
    assert seen == titles
    with db.reader() as session:
        oldest = timeline.load(session, customer, datetime.now(UTC) - timedelta(days=1))
    assert oldest.entries == []

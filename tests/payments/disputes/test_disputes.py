"""Disputes in the core: each resolution changes what is owed only through the ledger (which
verifies clean after every one), is audited with before and after, and happens once; the
amount in dispute stops or trims reminders; the timeline tells every step."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import func, select

from payments.collections import stops, timeline
from payments.disputes import raising, reads, resolving
from payments.disputes.attachments import AttachmentStore
from payments.disputes.models import CreditNote, Dispute
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry
from payments.migrate import alembic_config, upgrade
from payments.outbox.models import OutboxEmail
from payments.staff.audit import CLI, Actor
from payments.staff.models import AuditEntry
from tests.conftest import PG_URL

TODAY = datetime.now(UTC).date()


@pytest.fixture
def invoice_id(api) -> int:
    return api.create()["id"]  # Widgets $30.00 + Delivery $5.00 + tax $3.50 = $38.50


def dispute(db, invoice_id: int, tmp_path, **form) -> int:
    form = {"reason": "quantity", "positions": (1,), **form}
    with db.transaction() as s:
        return raising.raise_dispute(s, invoice_id, raising.Raise(**form),
                                     AttachmentStore(tmp_path), []).id


def state(db, invoice_id: int) -> tuple[int, str, list]:
    with db.reader() as s:
        invoice = s.get(Invoice, invoice_id)
        assert ledger.verify(s) == []
        kinds = list(s.scalars(select(LedgerEntry.kind).where(
            LedgerEntry.invoice_id == invoice_id)))
        return invoice.amount_due, invoice.due_date.isoformat(), kinds


def audited(db, action: str) -> list[AuditEntry]:
    with db.reader() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_credit_note_lowers_what_is_owed_once(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path, positions=(1, 2))
    with db.transaction() as s:
        done = resolving.credit(s, CLI, dispute_id, (2,), "", "Delivery refunded")
        number, amount = done.credit_note.number, done.credit_note.amount
    assert (number, amount) == ("CN-000001", 500)
    assert state(db, invoice_id) == (3350, (TODAY + timedelta(days=25)).isoformat(),
                                     ["credit_note"])
    entry = audited(db, "dispute.credit")[0]
    assert (entry.before["amount_due"], entry.after["amount_due"]) == (3850, 3350)
    with pytest.raises(raising.DisputeError, match="already resolved"), \
            db.transaction() as s:
        resolving.credit(s, CLI, dispute_id, (), "", "again")
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(CreditNote)) == 1
    assert state(db, invoice_id)[0] == 3350


def test_an_adjustment_sets_a_new_amount_due_and_due_date(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path, reason="pricing", positions=())
    new_due = TODAY + timedelta(days=40)
    with db.transaction() as s:
        resolving.adjust(s, CLI, dispute_id, "30.00", new_due.isoformat(), "Agreed price",
                         TODAY)
    assert state(db, invoice_id) == (3000, new_due.isoformat(), ["adjustment"])
    entry = audited(db, "dispute.adjust")[0]
    assert entry.before["due_date"] != entry.after["due_date"] == new_due.isoformat()


def test_a_rejection_keeps_the_amount_and_moves_the_due_date(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path)
    new_due = TODAY + timedelta(days=14)
    with db.transaction() as s:
        resolving.reject(s, CLI, dispute_id, "All six were delivered, see the POD",
                         new_due.isoformat(), TODAY)
    assert state(db, invoice_id) == (3850, new_due.isoformat(), [])
    with db.reader() as s:
        assert reads.active_amounts(s, [invoice_id]) == {}
        assert s.get(Dispute, dispute_id).outcome_note.startswith("All six")


@pytest.mark.parametrize(("action", "message"), [
    (lambda s, d: resolving.reject(s, CLI, d, "  ", "", TODAY), "Write the reason"),
    (lambda s, d: resolving.reject(s, CLI, d, "no", (TODAY - timedelta(1)).isoformat(),
                                   TODAY), "cannot be in the past"),
    (lambda s, d: resolving.adjust(s, CLI, d, "38.51", "", "", TODAY), r"between \$0.00 and"),
    (lambda s, d: resolving.adjust(s, CLI, d, "", "", "", TODAY), "Change the amount due"),
    (lambda s, d: resolving.credit(s, CLI, d, (), "38.51", ""), r"at most the \$38.50"),
    (lambda s, d: resolving.credit(s, CLI, d, (7,), "", ""), "Choose lines of this dispute"),
    (lambda s, d: resolving.reply(s, CLI, d, ""), "Write a reply"),
])
def test_bad_resolutions_write_nothing(db, invoice_id, tmp_path, action, message):
    dispute_id = dispute(db, invoice_id, tmp_path)
    with pytest.raises(raising.DisputeError, match=message), db.transaction() as s:
        action(s, dispute_id)
    assert state(db, invoice_id) == (3850, (TODAY + timedelta(days=25)).isoformat(), [])
    with db.reader() as s:
        assert s.get(Dispute, dispute_id).status == "open"
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_reminders_stop_for_a_whole_dispute_and_ask_for_the_rest_of_a_partial_one(
        db, api, tmp_path):
    whole, partial = api.create()["id"], api.create(external_id="ERP-2", number="INV-2")["id"]
    dispute(db, whole, tmp_path, positions=())
    dispute(db, partial, tmp_path, positions=(2,))
    with db.transaction() as s:
        found = stops.check(s, stops.load(s, [whole, partial]), {1: TODAY})
    assert found == {whole: "in dispute (the quantity is wrong: $38.50)"}
    with db.transaction() as s:
        resolving.reject(s, CLI, s.scalar(select(Dispute.id).where(
            Dispute.invoice_id == whole)), "Delivered in full", "", TODAY)
        assert stops.check(s, stops.load(s, [whole]), {1: TODAY}) == {}


def test_the_timeline_tells_the_dispute_from_raised_to_resolved(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path, message="Only 2 of 3 arrived")
    staff = Actor(None, "clerk@acme.example")  # as the console records a clerk
    with db.transaction() as s:
        resolving.reply(s, staff, dispute_id, "We are checking with the carrier")
        resolving.note(s, staff, dispute_id, "internal: carrier says 3 delivered")
    with db.transaction() as s:
        resolving.credit(s, staff, dispute_id, (), "10.00", "One widget credited")
    with db.reader() as s:
        entries = timeline.load(s, 1).entries
    said = [(e.title, e.detail, e.actor) for e in entries if e.kind == "dispute"]
    assert said == [
        ("Dispute of invoice INV-0001 resolved: credited", "One widget credited",
         "clerk@acme.example"),
        ("Reply to the customer on the dispute of invoice INV-0001",
         "We are checking with the carrier", "clerk@acme.example"),
        ("Customer disputed invoice INV-0001: The quantity is wrong ($30.00)",
         "Only 2 of 3 arrived", None)]
    assert not any("internal" in e.detail for e in entries)


@pytest.mark.skipif(not PG_URL, reason="row locks and two connections: PostgreSQL")
def test_two_tabs_raising_at_once_raise_one_dispute(db, invoice_id, tmp_path):
    barrier, outcomes = threading.Barrier(2), []

    def submit(reason: str) -> None:
        barrier.wait()
        try:
            dispute(db, invoice_id, tmp_path, reason=reason)
            outcomes.append("raised")
        except raising.DisputeError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=submit, args=(r,)) for r in ("pricing", "tax")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["This invoice is already in dispute: add to that conversation "
                                "below.", "raised"]
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Dispute)) == 1


def test_a_dispute_never_reaches_past_what_is_open(db, invoice_id, tmp_path):
    with pytest.raises(raising.DisputeError) as refused, db.transaction() as s:
        raising.raise_dispute(s, invoice_id, raising.Raise(reason="pricing", amount="40"),
                              AttachmentStore(tmp_path), [])
    assert refused.value.fields == {"amount": "The amount in dispute cannot be more than the "
                                              "$38.50 still open"}
    assert date.fromisoformat(state(db, invoice_id)[1]) > TODAY


def test_a_clerk_takes_off_at_most_the_amount_in_dispute(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path, positions=(2,))  # Delivery, $5.00
    with pytest.raises(raising.DisputeError, match=r"At most the \$5.00 in dispute"), \
            db.transaction() as s:
        resolving.credit(s, CLI, dispute_id, (), "10.00", "")
    with pytest.raises(raising.DisputeError, match=r"At most the \$5.00"), \
            db.transaction() as s:
        resolving.adjust(s, CLI, dispute_id, "30.00", "", "", TODAY)
    with db.transaction() as s:  # an admin may
        resolving.credit(s, CLI, dispute_id, (), "10.00", "goodwill", beyond=True)
    assert state(db, invoice_id)[0] == 2850


def test_a_reply_sent_twice_is_one_reply(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path)
    with db.transaction() as s:
        first = resolving.reply(s, CLI, dispute_id, "Checking with the carrier").id
    with db.transaction() as s:
        again = resolving.reply(s, CLI, dispute_id, "Checking with the carrier").id
    assert again == first
    assert len(audited(db, "dispute.reply")) == 1


def test_a_three_decimal_dispute_leaves_a_payable_rest(db, api, tmp_path):
    bhd = api.create(external_id="ERP-B", number="INV-B", currency="BHD", tax_amount=0,
                     lines=[{"description": "Tiles", "amount": 3850}], total=3850)["id"]
    with pytest.raises(raising.DisputeError, match="BHD amounts in dispute must end in 0"), \
            db.transaction() as s:
        raising.raise_dispute(s, bhd, raising.Raise(reason="pricing", amount="1.005"),
                              AttachmentStore(tmp_path), [])


def test_the_timeline_names_only_a_disputes_first_message_as_raised(db, api, tmp_path):
    one, two = api.create()["id"], api.create(external_id="ERP-2", number="INV-2")["id"]
    first, second = dispute(db, one, tmp_path), dispute(db, two, tmp_path)
    with db.transaction() as s:
        for n, dispute_id in enumerate((first, second, first, second)):
            resolving.reply(s, CLI, dispute_id, f"reply {n}")
    with db.reader() as s:
        titles = [e.title for e in timeline.load(s, 1, limit=3).entries]
    assert not any(t.startswith("Customer disputed") for t in titles)


def test_voiding_the_invoice_closes_its_dispute(db, api, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path)
    assert api.post(f"/invoices/{invoice_id}/void").status_code == 200
    with db.reader() as s:
        closed = s.get(Dispute, dispute_id)
        assert (closed.status, closed.outcome) == ("resolved", "voided")
        assert s.scalar(select(OutboxEmail.key)) == f"dispute-outcome:{dispute_id}"
    assert [e.actor for e in audited(db, "dispute.voided")] == ["api"]


def test_the_migration_goes_down_and_up_with_credit_notes(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path)
    with db.transaction() as s:
        resolving.credit(s, CLI, dispute_id, (), "", "")
    db.dispose()
    command.downgrade(alembic_config(db.engine), "0010")
    assert state(db, invoice_id)[0] == 850  # the credit kept as an adjustment
    assert state(db, invoice_id)[2] == ["adjustment"]
    upgrade(db.engine)
    db.dispose()


@pytest.mark.skipif(not PG_URL, reason="row locks and two connections: PostgreSQL")
def test_two_clerks_resolving_at_once_resolve_once(db, invoice_id, tmp_path):
    dispute_id = dispute(db, invoice_id, tmp_path, positions=(1, 2))
    barrier, outcomes = threading.Barrier(2), []

    def resolve(how) -> None:
        barrier.wait()
        try:
            with db.transaction() as s:
                how(s)
            outcomes.append("done")
        except raising.DisputeError as exc:
            outcomes.append(str(exc))

    ways = [lambda s: resolving.credit(s, CLI, dispute_id, (1,), "", "a"),
            lambda s: resolving.adjust(s, CLI, dispute_id, "33.50", "", "b", TODAY)]
    threads = [threading.Thread(target=resolve, args=(way,)) for way in ways]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("done") == 1
    assert [o for o in outcomes if o != "done"][0].startswith("This dispute was already resolved")
    amount_due, _day, kinds = state(db, invoice_id)  # verified clean
    assert len(kinds) == 1 and amount_due in (850, 3350)

"""The worklist on a built book: who is on it and in which order (broken promises and
escalations first, then lateness beyond the customer's own usual, then the amount at risk),
with the figures; the page for a viewer; its forms for clerks only, with CSRF, answering bad
input with the field's message (422) and nothing written, and going back where they came
from."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from payments.clock import utcnow
from payments.collections import worklist
from payments.collections.log_models import CallLog, Contact
from payments.collections.models import CollectionProfile, Promise
from payments.collections.timing import Learned
from tests.factories import lines_totalling
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

TODAY = utcnow().date()


def overdue(api, ext: str, customer: str, total: int, days: int, currency: str = "USD") -> int:
    """An invoice of ``customer`` (its name too) due ``days`` days ago; its id."""
    due = TODAY - timedelta(days=days)
    return api.create(external_id=ext, number=ext, currency=currency,
                      issue_date=(due - timedelta(days=30)).isoformat(),
                      due_date=due.isoformat(),
                      customer={"external_id": customer, "name": customer, "email": None},
                      **lines_totalling(1, total))["customer"]["id"]


def add(db, *rows) -> list[int]:
    with db.transaction() as session:
        session.add_all(rows)
        session.flush()
        return [getattr(r, "id", None) for r in rows]


def contact(customer_id: int, channel: str, why: str) -> Contact:
    return Contact(customer_id=customer_id, channel=channel, day=TODAY, status="open", why=why)


def usual(customer_id: int, days: int | None, flagged: bool = False) -> CollectionProfile:
    learned = Learned(6, days, f"{days}.0", days, days) if days is not None else None
    return CollectionProfile(customer_id=customer_id, trend_flag=flagged,
                             learned=learned.as_json() if learned else None)


@pytest.fixture
def book(api, world, db) -> dict[str, int]:
    """Six customers with a reason and two without; ids by name."""
    ids = {
        "Broken Co": overdue(api, "BR-1", "Broken Co", 10_000, 3),
        "Escalate Ltd": overdue(api, "ES-1", "Escalate Ltd", 5_000, 50),
        "Habitual Late": overdue(api, "HL-1", "Habitual Late", 3_000, 20),
        "Usually Prompt": overdue(api, "UP-1", "Usually Prompt", 1_000, 12),
        "Bigger Worse": overdue(api, "BW-1", "Bigger Worse", 9_000, 10),
        "Not Yet Due": overdue(api, "NY-1", "Not Yet Due", 4_000, -10),  # due in 10 days
        "Quiet Overdue": overdue(api, "QO-1", "Quiet Overdue", 99_000, 60),
        "Quiet Flag Off": overdue(api, "QF-1", "Quiet Flag Off", 1_000, 5),
    }
    # Habitual Late also owes 25.00 − 5.00 paid (10 days) and a void one (30 days: not counted).
    part = api.create(external_id="HL-2", number="HL-2", customer={"external_id": "Habitual Late",
                      "name": "Habitual Late"}, issue_date=str(TODAY - timedelta(days=40)),
                      due_date=str(TODAY - timedelta(days=10)), **lines_totalling(1, 2_500))
    world.pay("pi_hl", 500, world.attempt([(part["id"], 500)]))
    void = api.create(external_id="HL-3", number="HL-3", customer={"external_id": "Habitual Late",
                      "name": "Habitual Late"}, issue_date=str(TODAY - timedelta(days=60)),
                      due_date=str(TODAY - timedelta(days=30)), **lines_totalling(1, 9_999))
    assert api.post(f"/invoices/{void['id']}/void").status_code == 200
    add(db, Promise(customer_id=ids["Broken Co"], amount=10_000, currency="USD",
                    promised_on=TODAY - timedelta(days=1), status="broken", created_by="clerk",
                    settled_at=utcnow()),
        contact(ids["Escalate Ltd"], "escalate", "day +45: escalation for invoice ES-1"),
        contact(ids["Habitual Late"], "call", "day +21: call task for invoice HL-1"),
        contact(ids["Usually Prompt"], "call", "day +21: call task for invoice UP-1"),
        contact(ids["Usually Prompt"], "letter", "day +30: letter for invoice UP-1"),
        contact(ids["Not Yet Due"], "call", "no email address on file"),
        Contact(customer_id=ids["Quiet Overdue"], channel="email", day=TODAY, status="queued",
                why="an email is no task"),
        usual(ids["Habitual Late"], 15), usual(ids["Usually Prompt"], -2),
        usual(ids["Bigger Worse"], 5, flagged=True), usual(ids["Quiet Flag Off"], 0))
    return ids


ORDER = ["Escalate Ltd", "Broken Co", "Usually Prompt", "Bigger Worse", "Habitual Late",
         "Not Yet Due"]


def test_the_worklist_ranks_the_book(book, db):
    with db.reader() as session:
        found = worklist.load(session, TODAY)
    assert [r.name for r in found.rows] == ORDER and found.total == 6
    rows = {r.name: r for r in found.rows}
    # Urgent first, each by days beyond usual: Escalate 50 − 0, Broken 3 − 0.
    assert (rows["Escalate Ltd"].reasons, rows["Escalate Ltd"].beyond_usual) == (
        ("escalation",), 50)
    assert (rows["Broken Co"].reasons, rows["Broken Co"].overdue, rows["Broken Co"].days_overdue
            ) == (("broken promise",), {"USD": 10_000}, 3)
    # An early payer counts as on time: 12 − max(−2, 0) = 12.
    prompt = rows["Usually Prompt"]
    assert (prompt.reasons, prompt.usual, prompt.beyond_usual) == (("call", "letter"), -2, 12)
    assert [t.channel for t in prompt.tasks] == ["call", "letter"]
    # 10 − 5 and 20 − 15: both 5 beyond usual; $90.00 at risk beats $50.00.
    worse, habitual = rows["Bigger Worse"], rows["Habitual Late"]
    assert (worse.reasons, worse.beyond_usual, worse.overdue) == (("paying worse",), 5,
                                                                  {"USD": 9_000})
    assert (habitual.days_overdue, habitual.usual, habitual.beyond_usual, habitual.overdue) == (
        20, 15, 5, {"USD": 5_000})  # 30.00 + (25.00 − 5.00); the void one not counted
    assert habitual.tasks[0].why == "day +21: call task for invoice HL-1"
    late = rows["Not Yet Due"]
    assert (late.overdue, late.days_overdue, late.usual, late.beyond_usual) == ({}, None, None,
                                                                                None)
    with db.reader() as session:
        assert [r.name for r in worklist.load(session, TODAY, limit=2).rows] == ORDER[:2]


@pytest.fixture
def staff(app, db):
    for email, role in (("clerk@acme.example", "clerk"), ("viewer@acme.example", "viewer")):
        make_staff(db, email, role)
    return {e.split("@")[0]: logged_in(app, e) for e in ("clerk@acme.example",
                                                         "viewer@acme.example")}


def test_the_page_shows_the_ranked_rows_and_forms_only_to_clerks(book, staff):
    body = staff["viewer"].get("/staff/worklist").get_data(as_text=True)
    names = re.findall(r'<a href="/staff/customers/(\d+)">([^<]+)</a>', body)
    assert [name for _id, name in names] == ORDER
    assert names[0][0] == str(book["Escalate Ltd"])
    assert "day +45: escalation for invoice ES-1" in body and "$50.00" in body
    assert '<a href="/staff/worklist">Worklist</a>' in body
    assert "Log a call" not in body and "Mark done" not in body  # a viewer reads
    assert re.search(r'href="/staff/contacts/\d+/letter\.pdf">The letter \(PDF\)', body)
    clerk = staff["clerk"].get("/staff/worklist").get_data(as_text=True)
    assert clerk.count("Log a call") == 6 and clerk.count("Mark done") == 2  # letter, escalation
    for words in ("reached", "left a message", "promised to pay", "wrong contact"):
        assert f">{words}</option>" in clerk


def test_the_forms_refuse_viewers_and_need_csrf(book, staff, db):
    customer = book["Habitual Late"]
    with db.reader() as session:
        task = session.scalar(select(Contact.id).where(Contact.customer_id == customer))
    for path in (f"/staff/customers/{customer}/calls", f"/staff/customers/{customer}/promises",
                 "/staff/promises/1/cancel", f"/staff/contacts/{task}/done"):
        assert post(staff["viewer"], path, outcome="reached").status_code == 403
        assert staff["clerk"].post(path, data={"outcome": "reached"}).status_code == 400
    assert post(staff["clerk"], "/staff/customers/999999/calls",
                outcome="reached").status_code == 404
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(CallLog)) == 0
        assert session.get(Contact, task).status == "open"


def test_a_call_from_the_worklist_closes_the_task_and_goes_back(book, staff, db):
    customer = book["Habitual Late"]
    with db.reader() as session:
        task = session.scalar(select(Contact.id).where(Contact.customer_id == customer))
    response = post(staff["clerk"], f"/staff/customers/{customer}/calls", outcome="reached",
                    note="Paying next week", contact_id=str(task), next="/staff/worklist",
                    amount="", currency="USD", promised_on="", contact="")
    assert response.status_code == 303 and response.location.endswith("/staff/worklist")
    body = staff["clerk"].get("/staff/worklist").get_data(as_text=True)
    assert "Call logged: reached." in body and "Habitual Late" not in body
    for target in ("https://evil.example/", "//evil.example/x", "/staff/\\evil"):
        done = post(staff["clerk"], f"/staff/customers/{customer}/calls", outcome="reached",
                    next=target)
        assert done.location.endswith("/staff/worklist"), target
    back = post(staff["clerk"], f"/staff/customers/{customer}/calls", outcome="reached",
                next=f"/staff/customers/{customer}#timeline")
    assert back.location.endswith(f"/staff/customers/{customer}#timeline")


def test_bad_input_is_answered_with_the_fields_message_and_nothing_written(book, staff, db):
    customer = book["Usually Prompt"]
    path = f"/staff/customers/{customer}"
    with db.reader() as session:
        task = session.scalar(select(Contact.id).where(Contact.customer_id == customer,
                                                       Contact.channel == "call"))
    calls = [
        (dict(amount="20.00", currency="USD", promised_on=str(TODAY - timedelta(days=1))),
         "The date has passed"),
        (dict(amount="10.001", currency="USD", promised_on=str(TODAY)),
         "USD amounts have 2 decimal places at most"),
        (dict(amount="10", currency="ZZZ", promised_on=str(TODAY)),
         "Enter the currency&#39;s code"),
        (dict(outcome="shouted"), "Choose what came of the call."),
    ]
    for form, message in calls:
        form = {"outcome": "promise", "contact_id": str(task), **form}
        response = post(staff["clerk"], f"{path}/calls", next="/staff/worklist", **form)
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and message in body, (form, message)
        # Next to its field, in the row's form, opened and filled in as it was sent.
        row = body[body.index(f'id="customer-{customer}"'):]
        assert re.search(r'<span class="error small"[^>]*>[^<]*' + re.escape(message), row)
        assert "<details open>" in row and f'value="{form.get("amount", "")}"' in row
    for form, message in (
            (dict(amount="10.01", currency="USD", promised_on=str(TODAY)),
             "more than the customer owes in USD on open invoices ($10.00)"),
            (dict(amount="5", currency="EUR", promised_on=str(TODAY)),
             "no open invoices in EUR currency")):
        response = post(staff["clerk"], f"{path}/promises", next="/staff/worklist", **form)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Promise)
                              .where(Promise.customer_id == customer)) == 0
        assert session.scalar(select(func.count()).select_from(CallLog)) == 0
    # From the customer page, the customer page comes back with the message.
    again = post(staff["clerk"], f"{path}/promises", next=path, amount="1", currency="USD",
                 promised_on="soon")
    assert again.status_code == 422 and "Enter the promised date" in again.get_data(as_text=True)
    assert "<h1>Usually Prompt</h1>" in again.get_data(as_text=True)


def test_a_promise_is_recorded_canceled_and_tasks_marked_done(book, staff, db):
    customer = book["Usually Prompt"]
    recorded = post(staff["clerk"], f"/staff/customers/{customer}/promises", amount="10.00",
                    currency="usd", promised_on=str(TODAY + timedelta(days=7)),
                    contact="Dana", next="/staff/worklist")
    assert recorded.status_code == 303
    with db.reader() as session:
        promise = session.scalars(select(Promise).where(Promise.customer_id == customer)).one()
        letter = session.scalar(select(Contact.id).where(Contact.customer_id == customer,
                                                         Contact.channel == "letter"))
    assert (promise.amount, promise.currency, promise.contact) == (1_000, "USD", "Dana")
    assert post(staff["clerk"], f"/staff/promises/{promise.id}/cancel").status_code == 303
    again = post(staff["clerk"], f"/staff/promises/{promise.id}/cancel")
    assert again.status_code == 422 and "no longer open" in again.get_data(as_text=True)
    assert post(staff["clerk"], f"/staff/contacts/{letter}/done").status_code == 303
    body = staff["clerk"].get("/staff/worklist").get_data(as_text=True)
    assert "day +30: letter for invoice UP-1" not in body

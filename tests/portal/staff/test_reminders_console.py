"""The console's reminder pages: policies and templates (admins edit, everyone reads, bad input
refused with its reason and nothing stored), the preview of the next days, letter PDFs; and
``portal reminders preview`` on the command line."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from pypdf import PdfReader
from sqlalchemy import func, select

from payments.collections.log_models import Contact
from payments.collections.models import ReminderPolicy, ReminderTemplate
from payments.staff.models import AuditEntry
from portal import reminders
from portal.cli import cli
from tests.conftest import Api
from tests.factories import lines_totalling
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def staff(app, db):
    for email, role in (("admin@acme.example", "admin"), ("viewer@acme.example", "viewer")):
        make_staff(db, email, role)
    return {"admin": logged_in(app, "admin@acme.example"),
            "viewer": logged_in(app, "viewer@acme.example")}


def steps_form(*steps: tuple[str, str, str], **extra) -> dict:
    form = {"name": "Gentle", **extra}
    for n, (offset, channel, tone) in enumerate(steps):
        form |= {f"offset-{n}": offset, f"channel-{n}": channel, f"tone-{n}": tone}
    return form


def count(db, model) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_everyone_reads_the_policies_and_only_admins_change_them(staff, db):
    body = staff["viewer"].get("/staff/reminders").get_data(as_text=True)
    assert "Built-in default policy" in body and "The polite reminder" in body
    assert "Save policy" not in body
    refused = post(staff["viewer"], "/staff/reminders/policies",
                   **steps_form(("+1", "email", "polite")))
    assert refused.status_code == 403 and count(db, ReminderPolicy) == 0
    saved = post(staff["admin"], "/staff/reminders/policies",
                 **steps_form(("-2", "email", "polite"), ("5", "call", "polite"),
                              is_default="on"))
    assert saved.status_code == 303
    page = staff["viewer"].get("/staff/reminders").get_data(as_text=True)
    assert "Gentle" in page and "(default)" in page and 'value="-2"' in page
    with db.reader() as session:
        entry = session.scalar(select(AuditEntry).where(
            AuditEntry.action == "reminders.policy_save"))
        assert entry.after["steps"] == ["-2 email polite", "+5 call polite"]


@pytest.mark.parametrize(("steps", "message"), [
    ((("400", "email", "polite"),), "Steps go from -60 to +365 days"),
    ((("x", "email", "polite"),), "whole number"),
    ((("7", "email", "polite"), ("7", "call", "polite")), "already a step on day +7"),
    ((), "at least one step"),
])
def test_bad_steps_are_refused_with_the_reason_and_nothing_stored(staff, db, steps, message):
    response = post(staff["admin"], "/staff/reminders/policies", **steps_form(*steps))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(db, ReminderPolicy) == 0


def test_template_edits_are_trial_rendered_and_sandboxed(staff, db):
    broken = post(staff["admin"], "/staff/reminders/templates/polite", subject="Hi {{ customer",
                  text="x", html="x")
    assert broken.status_code == 422 and "unexpected end of template" in \
        broken.get_data(as_text=True)
    escape = post(staff["admin"], "/staff/reminders/templates/polite", subject="Hi",
                  text="{{ ''.__class__.__mro__[1].__subclasses__() }}", html="x")
    assert escape.status_code == 422 and "unsafe" in escape.get_data(as_text=True)
    assert count(db, ReminderTemplate) == 0
    saved = post(staff["admin"], "/staff/reminders/templates/polite",
                 subject="Open items for {{ customer }}",
                 text="Dear {{ customer }}, {{ invoices|length }} open. {{ statement_url }}",
                 html="<p>Dear {{ customer }}</p>")
    assert saved.status_code == 303 and count(db, ReminderTemplate) == 1
    assert "Edited by admin@acme.example" in staff["viewer"].get("/staff/reminders").get_data(
        as_text=True)
    assert post(staff["admin"], "/staff/reminders/templates/polite",
                action="reset").status_code == 303
    assert count(db, ReminderTemplate) == 0


def soon(api: Api, ext: str, days: int, name: str = "Northwind") -> int:
    due = date.today() + timedelta(days=days)
    return api.create(external_id=ext, number=ext, issue_date=(due - timedelta(30)).isoformat(),
                      due_date=due.isoformat(),
                      customer={"external_id": name, "name": name, "email": "ap@nw.example"},
                      **lines_totalling(1, 1000))["id"]


def test_the_preview_page_and_the_cli_list_upcoming_contacts_and_send_nothing(app, staff, api,
                                                                              db):
    soon(api, "INV-SOON", 6)
    soon(api, "INV-LATER", 40)
    body = staff["viewer"].get("/staff/reminders/preview?days=14").get_data(as_text=True)
    assert "INV-SOON" in body and "3 days before due: email" in body
    assert "INV-LATER" not in body and "to ap@nw.example" in body
    result = CliRunner().invoke(cli, ["reminders", "preview", "--days", "14"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert "Northwind" in result.output and "INV-SOON: 3 days before due: email" in \
        result.output
    assert "nothing was sent" in result.output
    assert count(db, Contact) == 0


def test_a_letter_task_has_a_printable_pdf_with_live_links(app, staff, api, db):
    now = datetime.now(UTC).replace(hour=10)
    while now.weekday() >= 5:  # business hours on a weekday, whatever day the suite runs
        now += timedelta(days=1)
    soon(api, "INV-OLD", (now.date() - date.today()).days - 30)  # its +30 step is today
    with app.app_context():
        report = reminders.run_tick(app, now)
    assert report.tasks == 1, report
    with db.reader() as session:
        letter = session.scalar(select(Contact).where(Contact.channel == "letter"))
    response = staff["viewer"].get(f"/staff/contacts/{letter.id}/letter.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "INV-OLD" in text and "https://portal.test/i/" in text
    assert "{link:" not in text


def test_a_window_leaving_no_contact_day_is_refused_and_never_breaks_the_pages(app, staff, api,
                                                                               db):
    from payments.collections.models import ContactWindow
    customer_id = api.create()["customer"]["id"]
    refused = post(staff["admin"], f"/staff/customers/{customer_id}/windows", kind="monthly",
                   start="1", end="31")
    assert refused.status_code == 422
    assert "no day is left to contact the customer" in refused.get_data(as_text=True)
    assert count(db, ContactWindow) == 0
    # One stored before that check existed (or by hand) must not take the pages down.
    with db.transaction() as session:
        session.add(ContactWindow(customer_id=customer_id, kind="monthly", start="1", end="31"))
    assert staff["viewer"].get(f"/staff/customers/{customer_id}").status_code == 200
    assert staff["viewer"].get("/staff/reminders/preview").status_code == 200

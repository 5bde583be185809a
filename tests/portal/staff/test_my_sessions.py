"""``/staff/sessions``: each staff user sees their own signed-in sessions and ends any of them;
nobody sees or ends anyone else's."""

from __future__ import annotations

import pytest

from tests.portal.staff.test_auth import session_rows
from tests.portal.staff.test_queues import audit_entries, text_of
from tests.staff_helpers import logged_in, login, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

ALICE, BOB = "alice@acme.example", "bob@acme.example"


def browser(app, email: str, agent: str, ip: str):
    """A client signed in as ``email`` from a browser ``agent`` at ``ip``."""
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    assert login(client, email, ip=ip).status_code == 302
    return client


@pytest.fixture
def people(app, db):
    make_staff(db, ALICE, "viewer")
    make_staff(db, BOB, "admin")
    return (browser(app, ALICE, "Firefox/133 laptop", "198.51.100.7"),
            browser(app, ALICE, "Safari/18 phone", "203.0.113.9"),
            browser(app, BOB, "Chrome/131 bob", "192.0.2.44"))


def test_the_page_lists_ones_own_sessions_only(people):
    laptop, _phone, _bob = people
    page = text_of(laptop.get("/staff/sessions"))
    assert "Firefox/133 laptop" in page and "Safari/18 phone" in page
    assert "198.51.100.7" in page and "203.0.113.9" in page
    assert "Chrome/131 bob" not in page and "192.0.2.44" not in page
    assert page.count("this browser") == 1 and "30 minutes without use" in page


def test_ending_another_of_ones_sessions_signs_that_browser_out(people, db):
    laptop, phone, bob = people
    [phone_row] = [r for r in session_rows(db) if r.user_agent.startswith("Safari")]
    response = post(laptop, f"/staff/sessions/{phone_row.id}/end")
    assert response.status_code == 303
    assert "That session has ended" in text_of(laptop.get(response.headers["Location"]))
    assert phone.get("/staff/").status_code == 302  # signed out at its next click
    assert laptop.get("/staff/").status_code == 200 and bob.get("/staff/").status_code == 200
    [entry] = audit_entries(db, "staff.end_session")
    assert entry.after == {"session": phone_row.id}


def test_nobody_ends_someone_elses_session(people, db):
    laptop, _phone, bob = people
    [bobs] = [r for r in session_rows(db) if r.user_agent.startswith("Chrome")]
    assert post(laptop, f"/staff/sessions/{bobs.id}/end").status_code == 404
    assert bob.get("/staff/").status_code == 200
    assert post(laptop, "/staff/sessions/99999/end").status_code == 404


def test_ending_this_browsers_session_is_signing_out(people, db):
    laptop, phone, _bob = people
    mine = laptop.get("/staff/sessions")
    assert mine.status_code == 200
    [row] = [r for r in session_rows(db) if r.user_agent.startswith("Firefox")]
    response = post(laptop, f"/staff/sessions/{row.id}/end")
    assert response.status_code == 303 and response.headers["Location"].endswith("/staff/login")
    assert laptop.get("/staff/").status_code == 302 and phone.get("/staff/").status_code == 200
    assert len(audit_entries(db, "staff.logout")) == 1


def test_sign_out_everywhere_ends_all_and_leaves_others(people, app, db):
    laptop, phone, bob = people
    assert post(phone, "/staff/logout-everywhere").status_code == 302
    assert laptop.get("/staff/").status_code == 302 and phone.get("/staff/").status_code == 302
    assert bob.get("/staff/").status_code == 200
    assert [r.user_agent for r in session_rows(db)] == ["Chrome/131 bob"]
    assert logged_in(app, ALICE).get("/staff/sessions").status_code == 200

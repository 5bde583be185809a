"""The console's pages with real data: the dashboard's balances and queues, API keys shown once
and revoked, adding staff with clear refusals, and pages that load nothing from elsewhere."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from payments.ledger.models import Payment, ReconciliationException
from tests.paths import ROOT
from tests.staff_helpers import PASSWORD, logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

TEMPLATES = ROOT / "portal" / "templates" / "staff"


@pytest.fixture
def staff(app, db):
    """Logged-in clients for an admin, a clerk and a viewer."""
    for role in ("admin", "clerk", "viewer"):
        make_staff(db, f"{role}@acme.example", role)
    return {role: logged_in(app, f"{role}@acme.example") for role in ("admin", "clerk", "viewer")}


def test_the_dashboard_shows_open_balances_aging_and_queues(api, db, staff):
    overdue = (date.today() - timedelta(days=45)).isoformat()
    api.create()  # $38.50, current
    api.create(external_id="ERP-2", number="INV-0002", issue_date="2020-01-01",
               due_date=overdue)
    api.create(external_id="ERP-3", number="INV-0003", currency="JPY", lines=[
        {"description": "Bearings", "amount": 5000}], tax_amount=0, total=5000)
    with db.transaction() as session:
        session.add_all([
            Payment(payment_intent_id="pi_unconfirmed", currency="USD", amount=1200,
                    status="succeeded", method="card"),
            ReconciliationException(kind="unmatched_payment", cause="unmatched:pi_x",
                                    amount=999, currency="USD")])
    body = staff["viewer"].get("/staff/").get_data(as_text=True)
    usd = re.search(r'<th scope="row">USD</th>(.*?)</tr>', body, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)', usd)
    assert cells[:3] == ["2", "$77.00", "$38.50 "]  # open, outstanding, overdue
    assert cells[3:8] == ["$38.50", "$0.00", "$38.50", "$0.00", "$0.00"]  # aging buckets
    assert '<th scope="row">JPY</th>' in body and "¥5,000" in body
    # The queues are counted here and worked on their own pages
    # (tests/portal/staff/test_dashboard.py).
    assert re.search(r'<span class="figure">1</span>\s*payment to confirm', body)
    assert "1 unmatched payment" in body
    clerk_page = staff["clerk"].get("/staff/").get_data(as_text=True)
    assert 'href="/staff/users"' not in clerk_page  # admin pages are not offered either


def test_an_api_key_is_shown_once_works_and_can_be_revoked(client, staff):
    created = post(staff["admin"], "/staff/api-keys", name="NetSuite")
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    key = re.search(r"arp_[A-Za-z0-9_-]{43}", created.get_data(as_text=True)).group(0)
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/invoices", headers=bearer).status_code == 200
    listing = staff["admin"].get("/staff/api-keys").get_data(as_text=True)
    assert "NetSuite" in listing and key[:12] in listing and key not in listing
    key_id = re.search(r'/staff/api-keys/(\d+)/revoke', listing).group(1)
    assert post(staff["admin"], f"/staff/api-keys/{key_id}/revoke").status_code == 303
    assert client.get("/api/v1/invoices", headers=bearer).status_code == 401
    assert "revoked" in staff["admin"].get("/staff/api-keys").get_data(as_text=True)
    assert post(staff["admin"], "/staff/api-keys/999/revoke").status_code == 404
    assert post(staff["admin"], "/staff/api-keys", name=" ").status_code == 422


@pytest.mark.parametrize("form, message", [
    ({"email": "new@acme.example", "password": PASSWORD, "confirm": PASSWORD + "x"},
     "The two passwords differ."),
    ({"email": "new@acme.example", "password": "short", "confirm": "short"},
     "at least 12 characters"),
    ({"email": "Viewer@acme.example", "password": PASSWORD, "confirm": PASSWORD},
     "already exists"),
    ({"email": "not-an-email", "password": PASSWORD, "confirm": PASSWORD},
     "is not an email address"),
    ({"email": "new@acme.example", "password": PASSWORD, "confirm": PASSWORD, "role": "root"},
     "role must be one of"),
])
def test_adding_staff_explains_what_is_wrong(staff, form, message):
    response = post(staff["admin"], "/staff/users", **{"role": "viewer", **form})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_an_added_user_can_log_in_with_their_role(app, staff):
    assert post(staff["admin"], "/staff/users", email="new@acme.example", role="clerk",
                password=PASSWORD, confirm=PASSWORD).status_code == 303
    page = staff["admin"].get("/staff/users").get_data(as_text=True)
    assert "new@acme.example" in page
    new = logged_in(app, "new@acme.example")
    assert new.get("/staff/").status_code == 200 and new.get("/staff/users").status_code == 403


def test_console_pages_load_nothing_from_elsewhere(staff):
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), template.name
        assert "style=" not in text, template.name
        # Script only as a file of the portal's own (static/), never inline.
        scripts = re.findall(r"<script[^>]*>[^<]*</script>", text)
        assert text.count("<script") == len(scripts), template.name
        for tag in scripts:
            assert re.fullmatch(r"<script src=\"\{\{ url_for\('static', filename='[\w.-]+\.js'\) "
                                r"\}\}\" defer></script>", tag), template.name
    response = staff["admin"].get("/staff/audit")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]

"""Roles on every console route: the registry covers the whole URL map, and every route answers
each of anonymous, viewer, clerk and admin as its role says."""

from __future__ import annotations

import re
import threading

import pytest

from payments.staff import accounts, audit
from portal.staff.roles import PUBLIC_ATTR, role_of
from tests.staff_helpers import csrf_token, logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

# Every console endpoint and the least role it needs. A new route must be added here, with
# the role it is meant to have: the first test fails until it is.
EXPECTED = {
    "staff.dashboard": "viewer",
    "staff.logout": "viewer",
    "staff.logout_everywhere": "viewer",
    "staff.confirmations": "viewer",
    "staff.confirm": "clerk",
    "staff.export_payments": "viewer",
    "staff.exceptions": "viewer",
    "staff.exception": "viewer",
    "staff.disputes": "viewer",
    "staff.dispute": "viewer",
    "staff.dispute_reply": "clerk",
    "staff.dispute_note": "clerk",
    "staff.dispute_review": "clerk",
    "staff.dispute_credit": "clerk",
    "staff.dispute_adjust": "clerk",
    "staff.dispute_reject": "clerk",
    "staff.dispute_attachment": "viewer",
    "staff.credit_note": "viewer",
    "staff.exception_apply": "clerk",
    "staff.exception_refund": "clerk",
    "staff.exception_credit": "clerk",
    "staff.exception_write_off": "clerk",
    "staff.exception_dismiss": "clerk",
    "staff.users": "admin",
    "staff.add_user": "admin",
    "staff.set_role": "admin",
    "staff.deactivate": "admin",
    "staff.activate": "admin",
    "staff.sign_out": "admin",
    "staff.api_keys": "admin",
    "staff.create_api_key": "admin",
    "staff.revoke_api_key": "admin",
    "staff.audit_log": "admin",
    "staff.invoices": "viewer",
    "staff.invoice": "viewer",
    "staff.rotate_invoice_link": "clerk",
    "staff.revoke_invoice_link": "clerk",
    "staff.email_invoice_link": "clerk",
    "staff.customers": "viewer",
    "staff.customer": "viewer",
    "staff.add_customer_note": "clerk",
    "staff.rotate_statement_link": "clerk",
    "staff.revoke_statement_link": "clerk",
    "staff.email_statement_link": "clerk",
    "staff.background": "viewer",
    "staff.retry_event": "clerk",
    "staff.retry_email": "clerk",
    "staff.my_sessions": "viewer",
    "staff.end_session": "viewer",
    "staff.worklist": "viewer",
    "staff.log_call": "clerk",
    "staff.record_promise": "clerk",
    "staff.cancel_promise": "clerk",
    "staff.contact_done": "clerk",
    "staff.reminders_page": "viewer",
    "staff.save_policy": "admin",
    "staff.save_template": "admin",
    "staff.reminders_preview": "viewer",
    "staff.contact_letter": "viewer",
    "staff.save_collections": "clerk",
    "staff.add_contact_window": "clerk",
    "staff.remove_contact_window": "clerk",
    "staff.invoice_chase_hold": "clerk",
}
PUBLIC = {"staff.login", "staff.login_submit"}
RANK = {"anonymous": -1, "viewer": 0, "clerk": 1, "admin": 2}


def _console_rules(app):
    return [r for r in app.url_map.iter_rules()
            if r.rule.startswith("/staff") and r.endpoint != "static"]


def test_every_console_route_requires_a_role(app):
    seen = {}
    for rule in _console_rules(app):
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in PUBLIC:
            assert getattr(view, PUBLIC_ATTR, False) and role_of(view) is None
            continue
        assert role_of(view) is not None, f"{rule.rule} ({rule.endpoint}) has no role"
        seen[rule.endpoint] = role_of(view)
    assert seen == EXPECTED


def test_a_route_that_forgets_its_role_is_refused_to_everyone(app, db):
    app.add_url_rule("/staff/forgotten", "staff.forgotten", lambda: "secret")
    make_staff(db, "admin@acme.example", "admin")
    assert app.test_client().get("/staff/forgotten").status_code == 403
    assert logged_in(app, "admin@acme.example").get("/staff/forgotten").status_code == 403


def _cases(app_rules):
    for rule in app_rules:
        if rule.endpoint in PUBLIC:
            continue
        for who in RANK:
            yield rule, who


def _request(client, rule):
    path = re.sub(r"<id:\w+>", "1", rule.rule)
    if "GET" in rule.methods:
        return client.get(path)
    return post(client, path, role="viewer", name="key", resolution="done", body="note")


def test_each_route_answers_each_role_as_its_role_says(app_factory, db):
    app = app_factory()
    # User 1 is the admin; the others give each role a session.
    for role in ("admin", "clerk", "viewer"):
        make_staff(db, f"{role}@acme.example", role)
    clients = {"anonymous": app.test_client()}
    checked = 0
    for rule, who in _cases(_console_rules(app)):
        if who != "anonymous":
            # Fresh login each time: logout routes end the session they are called from.
            clients[who] = logged_in(app, f"{who}@acme.example")
        else:
            csrf_token(clients[who])
        response = _request(clients[who], rule)
        need = EXPECTED[rule.endpoint]
        where = f"{rule.endpoint} as {who}"
        if who == "anonymous":
            assert response.status_code == 302, where
            assert response.headers["Location"].startswith("/staff/login"), where
        elif RANK[who] < RANK[need]:
            assert response.status_code == 403, where
            assert "Not allowed" in response.get_data(as_text=True), where
        else:
            assert response.status_code not in (401, 403), where
            location = response.headers.get("Location", "")
            assert not (rule.endpoint not in ("staff.logout", "staff.logout_everywhere")
                        and location.startswith("/staff/login")), where
        checked += 1
    assert checked == len(EXPECTED) * 4


def test_a_role_change_takes_effect_on_the_next_request(app, db):
    make_staff(db, "admin@acme.example", "admin")
    clerk_id = make_staff(db, "clerk@acme.example", "clerk")
    admin, clerk = logged_in(app, "admin@acme.example"), logged_in(app, "clerk@acme.example")
    assert post(clerk, "/staff/exceptions/99/dismiss", reason="x").status_code == 404
    assert post(admin, f"/staff/users/{clerk_id}/role", role="viewer").status_code == 303
    assert post(clerk, "/staff/exceptions/99/dismiss", reason="x").status_code == 403
    assert clerk.get("/staff/").status_code == 200  # still logged in, as a viewer


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app, db):
    admin_id = make_staff(db, "admin@acme.example", "admin")
    admin = logged_in(app, "admin@acme.example")
    response = post(admin, f"/staff/users/{admin_id}/role", role="clerk")
    assert response.status_code == 422
    assert "at least one active admin must remain" in response.get_data(as_text=True).lower()
    other = make_staff(db, "second@acme.example", "admin")
    assert post(admin, f"/staff/users/{admin_id}/deactivate").status_code == 422  # yourself
    assert post(admin, f"/staff/users/{other}/deactivate").status_code == 303
    assert post(admin, f"/staff/users/{admin_id}/role", role="clerk").status_code == 422


def test_two_admins_demoting_each_other_at_once_leave_one_admin(db):
    # Run on PostgreSQL too: there the two transactions really overlap.
    first, second = make_staff(db, "a@acme.example", "admin"), make_staff(db, "b@acme.example",
                                                                          "admin")
    barrier, outcomes = threading.Barrier(2), []

    def demote(actor_id: int, target: int) -> None:
        try:
            barrier.wait()
            with db.transaction() as session:
                accounts.set_role(session, audit.Actor(actor_id, "x"), target, "viewer")
            outcomes.append("demoted")
        except accounts.StaffError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=demote, args=pair) for pair in
               ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["at least one active admin must remain", "demoted"]
    with db.reader() as session:
        assert [u.role for u in accounts.list_users(session)].count("admin") == 1

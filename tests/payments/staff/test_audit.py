"""The audit log: one entry per staff action with before/after, written in the action's own
transaction, append-only in the database (SQLite and PostgreSQL), filtered and paged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from payments.ledger.models import Payment, ReconciliationException
from payments.staff import accounts, audit
from payments.staff.models import AuditEntry
from tests.staff_helpers import PASSWORD, logged_in, login, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

ADMIN = "admin@acme.example"


def entries(db, **where) -> list[AuditEntry]:
    with db.reader() as session:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(AuditEntry, name) == value)
        return list(session.scalars(stmt))


def test_updating_or_deleting_an_entry_fails_in_the_database(db):
    with db.transaction() as session:
        entry_id = audit.record(session, audit.CLI, "test.action", ("thing", 1), None,
                                {"x": 1}).id
    with pytest.raises(IntegrityError, match="append-only"), db.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == entry_id)
                        .values(action="forged"))
    with pytest.raises(IntegrityError, match="append-only"), db.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == entry_id))
    with pytest.raises(IntegrityError, match="append-only"), db.transaction() as session:
        session.execute(text("DELETE FROM audit_entries"))
    with pytest.raises(IntegrityError, match="append-only"), db.transaction() as session:
        session.get(AuditEntry, entry_id).after = {"x": 2}  # through the ORM too
    [kept] = entries(db)
    assert kept.action == "test.action" and kept.after == {"x": 1}


def test_an_entry_commits_or_rolls_back_with_its_action(db):
    make_staff(db, ADMIN, "admin")
    with pytest.raises(accounts.StaffError), db.transaction() as session:
        accounts.add(session, audit.CLI, "ADMIN@acme.example", "viewer", PASSWORD)
    with pytest.raises(RuntimeError), db.transaction() as session:
        accounts.add(session, audit.CLI, "new@acme.example", "viewer", PASSWORD)
        raise RuntimeError("the rest of the action failed")
    assert [e.action for e in entries(db)] == ["staff.add"]
    assert entries(db)[0].after == {"email": ADMIN, "role": "admin", "active": True}


def test_every_staff_action_in_the_console_is_audited(app, db):
    admin_id = make_staff(db, ADMIN, "admin")
    admin = logged_in(app, ADMIN)
    post(admin, "/staff/users", email="Clerk@Acme.example", role="clerk", password=PASSWORD,
         confirm=PASSWORD)
    clerk_id = accounts_id(db, "clerk@acme.example")
    post(admin, f"/staff/users/{clerk_id}/role", role="viewer")
    post(admin, f"/staff/users/{clerk_id}/sign-out")
    post(admin, f"/staff/users/{clerk_id}/deactivate")
    post(admin, f"/staff/users/{clerk_id}/activate")
    created = post(admin, "/staff/api-keys", name="NetSuite")
    plaintext = re.search(r"arp_[A-Za-z0-9_-]+", created.get_data(as_text=True)).group(0)
    key_id = int(entries(db, action="apikey.create")[0].target_id)
    post(admin, f"/staff/api-keys/{key_id}/revoke")
    post(admin, "/staff/logout-everywhere")

    log = [(e.action, e.actor, e.actor_id, e.target_type, e.target_id, e.before, e.after)
           for e in entries(db) if e.actor != "cli"]
    clerk, key = str(clerk_id), str(key_id)
    before = {"email": "clerk@acme.example", "role": "clerk", "active": True}
    as_viewer = {**before, "role": "viewer"}
    assert log == [
        ("staff.login", ADMIN, admin_id, "staff_user", str(admin_id), None, None),
        ("staff.add", ADMIN, admin_id, "staff_user", clerk, None, before),
        ("staff.set_role", ADMIN, admin_id, "staff_user", clerk, before, as_viewer),
        ("staff.sign_out_everywhere", ADMIN, admin_id, "staff_user", clerk,
         {"session_version": 1}, {"session_version": 2}),
        ("staff.deactivate", ADMIN, admin_id, "staff_user", clerk, as_viewer,
         {**as_viewer, "active": False}),
        ("staff.activate", ADMIN, admin_id, "staff_user", clerk,
         {**as_viewer, "active": False}, as_viewer),
        ("apikey.create", ADMIN, admin_id, "api_key", key, None,
         {"name": "NetSuite", "prefix": plaintext[:12]}),
        ("apikey.revoke", ADMIN, admin_id, "api_key", key, {"name": "NetSuite",
                                                              "revoked_at": None},
         log[7][6]),
        ("staff.sign_out_everywhere", ADMIN, admin_id, "staff_user", str(admin_id),
         {"session_version": 1}, {"session_version": 2}),
    ]
    assert log[7][6]["revoked_at"] is not None
    assert all(e.ip == "192.0.2.10" and e.at is not None for e in entries(db)
               if e.actor == ADMIN)
    with db.reader() as session:  # no secret ever reaches the log
        dump = str([(e.before, e.after) for e in session.scalars(select(AuditEntry))])
    assert plaintext not in dump and "argon2" not in dump and PASSWORD not in dump


def accounts_id(db, email: str) -> int:
    with db.reader() as session:
        return accounts.by_email(session, email).id


def test_logout_and_confirm_and_dismiss_are_audited(app, db):
    make_staff(db, "clerk@acme.example", "clerk")
    with db.transaction() as session:
        payment = Payment(payment_intent_id="pi_1", currency="USD", amount=3850,
                          status="succeeded")
        exc = ReconciliationException(kind="unmatched_payment", cause="unmatched:pi_2",
                                      amount=500, currency="USD")
        session.add_all([payment, exc])
    clerk = logged_in(app, "clerk@acme.example")
    assert post(clerk, "/staff/payments/confirm", one=str(payment.id)).status_code == 303
    assert post(clerk, "/staff/payments/confirm", one=str(payment.id)).status_code == 303  # no-op
    assert post(clerk, f"/staff/exceptions/{exc.id}/dismiss",
                reason="Refunded the customer").status_code == 303
    assert post(clerk, f"/staff/exceptions/{exc.id}/dismiss", reason="again").status_code == 422
    assert post(clerk, "/staff/logout").status_code == 302
    [confirm] = entries(db, action="payment.confirm")
    assert confirm.target_type == "payment"
    assert confirm.before == {"confirmed_at": None, "confirmed_by": None}
    assert confirm.after["confirmed_at"].startswith(str(datetime.now(UTC).year))
    [dismiss] = entries(db, action="exception.dismiss")
    assert dismiss.after["resolution"] == {"action": "dismiss", "reason": "Refunded the customer"}
    assert dismiss.before == {"resolved_at": None, "resolved_by": None, "resolution": None}
    assert [e.action for e in entries(db, actor="clerk@acme.example")] == [
        "staff.login", "payment.confirm", "exception.dismiss", "staff.logout"]


def test_cli_and_failed_logins(app, db):
    make_staff(db, ADMIN, "admin")  # through the CLI's actor
    login(app.test_client(), ADMIN, "wrong password!")
    [added] = entries(db)
    assert (added.actor, added.actor_id, added.ip) == ("cli", None, None)


def _seed(db, n: int) -> list[int]:
    ids = []
    with db.transaction() as session:
        for i in range(n):
            actor = audit.Actor(None, "a@acme.example" if i % 2 else "b@acme.example")
            ids.append(audit.record(session, actor, "even" if i % 2 == 0 else "odd",
                                    ("thing", i % 3)).id)
    return ids


def test_query_filters_and_keyset_pages(db):
    ids = _seed(db, 7)
    with db.reader() as session:
        first = audit.query(session, limit=3)
        second = audit.query(session, cursor=first.next_cursor, limit=3)
        third = audit.query(session, cursor=second.next_cursor, limit=3)
        assert [e.id for e in first.entries + second.entries + third.entries] == ids[::-1]
        assert third.next_cursor is None
        odd = audit.query(session, audit.AuditFilter(action="odd"))
        assert [e.id for e in odd.entries] == [ids[5], ids[3], ids[1]]
        by_actor = audit.query(session, audit.AuditFilter(actor=" B@Acme.example"))
        assert len(by_actor.entries) == 4
        target = audit.query(session, audit.AuditFilter(target_type="thing", target_id="0"))
        assert [e.id for e in target.entries] == [ids[6], ids[3], ids[0]]
        today = datetime.now(UTC).date()
        assert len(audit.query(session, audit.AuditFilter(since=today, until=today)).entries) == 7
        tomorrow = today + timedelta(days=1)
        assert audit.query(session, audit.AuditFilter(since=tomorrow)).entries == []
        assert audit.query(session, audit.AuditFilter(until=today - timedelta(days=1))
                           ).entries == []
        assert audit.actions(session) == ["even", "odd"]


def test_admins_read_the_log_filtered_and_paged(app, db):
    make_staff(db, ADMIN, "admin")
    _seed(db, 120)
    admin = logged_in(app, ADMIN)
    page = admin.get("/staff/audit?action=even")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and body.count("<code>even</code>") == 50
    assert "<code>odd</code>" not in body
    older = re.search(r'href="(/staff/audit\?[^"]*cursor=\d+[^"]*)"', body).group(1)
    assert "action=even" in older
    rest = admin.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert rest.count("<code>even</code>") == 10 and "Older entries" not in rest
    assert "thing 0" in rest
    bad = admin.get("/staff/audit?since=yesterday&cursor=abc")  # ignored, not a 500
    assert bad.status_code == 200

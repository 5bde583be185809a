"""``portal staff add|deactivate|password|list``: passwords from stdin (never an argument),
clear refusals with exit 1, and every change audited with the actor ``cli``; the demo's admin."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from payments.staff import accounts
from payments.staff.models import AuditEntry, StaffUser
from portal.cli import cli
from portal.cli.demo import DEMO_STAFF, seed_staff
from tests.staff_helpers import PASSWORD, logged_in, login

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def portal(app, *args: str, stdin: str | None = None):
    """Run ``portal ARGS`` against ``app`` with ``stdin`` piped in."""
    return CliRunner().invoke(cli, list(args), input=stdin,
                              obj=ScriptInfo(create_app=lambda: app))


def users(db) -> list[tuple[str, str, bool]]:
    with db.reader() as session:
        return [(u.email, u.role, u.active) for u in session.scalars(select(StaffUser))]


def actions(db) -> list[tuple[str, str]]:
    with db.reader() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEntry)
                                                              .order_by(AuditEntry.id))]


def test_add_reads_the_password_from_stdin(app, db):
    result = portal(app, "staff", "add", "Ann@Acme.example", "--role", "admin",
                    stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Added ann@acme.example (admin).\n"
    assert users(db) == [("ann@acme.example", "admin", True)]
    assert actions(db) == [("cli", "staff.add")]
    assert logged_in(app, "ann@acme.example").get("/staff/users").status_code == 200


def test_add_refuses_a_short_password(app, db):
    result = portal(app, "staff", "add", "ann@acme.example", "--role", "clerk",
                    stdin="short\n")
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    assert users(db) == [] and actions(db) == []


def test_add_refuses_a_duplicate_in_any_case(app, db):
    assert portal(app, "staff", "add", "ann@acme.example", "--role", "clerk",
                  stdin=PASSWORD).exit_code == 0
    again = portal(app, "staff", "add", "ANN@acme.example", "--role", "admin", stdin=PASSWORD)
    assert again.exit_code == 1 and "already exists" in again.output
    assert users(db) == [("ann@acme.example", "clerk", True)]


@pytest.mark.parametrize("args, stdin, message", [
    (["--role", "owner"], PASSWORD, "Invalid value for '--role'"),
    ([], PASSWORD, "Missing option '--role'"),
    (["--role", "admin", "--password", PASSWORD], "", "No such option"),
    (["--role", "admin"], "", "no password"),
])
def test_add_usage_errors(app, db, args, stdin, message):
    result = portal(app, "staff", "add", "ann@acme.example", *args, stdin=stdin)
    assert result.exit_code != 0 and message in result.output
    assert users(db) == []


def test_add_refuses_what_is_not_an_email(app, db):
    result = portal(app, "staff", "add", "ann", "--role", "admin", stdin=PASSWORD)
    assert result.exit_code == 1 and "is not an email address" in result.output


def test_deactivate_ends_the_sessions_and_is_audited(app, db):
    portal(app, "staff", "add", "boss@acme.example", "--role", "admin", stdin=PASSWORD)
    portal(app, "staff", "add", "ann@acme.example", "--role", "clerk", stdin=PASSWORD)
    session = logged_in(app, "ann@acme.example")
    result = portal(app, "staff", "deactivate", "Ann@acme.example")
    assert result.exit_code == 0, result.output
    assert session.get("/staff/").status_code == 302
    assert ("cli", "staff.deactivate") in actions(db)
    assert portal(app, "staff", "deactivate", "nobody@acme.example").exit_code == 1
    last = portal(app, "staff", "deactivate", "boss@acme.example")
    assert last.exit_code == 1 and "at least one active admin must remain" in last.output


def test_password_is_replaced_from_stdin(app, db):
    portal(app, "staff", "add", "ann@acme.example", "--role", "viewer", stdin=PASSWORD)
    session = logged_in(app, "ann@acme.example")
    result = portal(app, "staff", "password", "ann@acme.example", stdin="another long secret\n")
    assert result.exit_code == 0, result.output
    assert session.get("/staff/").status_code == 302
    assert login(app.test_client(), "ann@acme.example", "another long secret").status_code == 302
    assert portal(app, "staff", "password", "ann@acme.example", stdin="short").exit_code == 1


def test_list(app, db):
    assert portal(app, "staff", "list").stdout == ""
    portal(app, "staff", "add", "zed@acme.example", "--role", "viewer", stdin=PASSWORD)
    portal(app, "staff", "add", "ann@acme.example", "--role", "admin", stdin=PASSWORD)
    lines = portal(app, "staff", "list").stdout.splitlines()
    assert lines == ["ann@acme.example\tadmin\tactive\tnever",
                     "zed@acme.example\tviewer\tactive\tnever"]


def test_apikey_create_is_audited_without_the_key(app, db):
    result = portal(app, "apikey", "create", "ERP")
    assert result.exit_code == 0
    with db.reader() as session:
        [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.actor, entry.action, entry.after["name"]) == ("cli", "apikey.create", "ERP")
    assert result.stdout.strip() not in str(entry.after)


def test_the_demo_admin_is_created_once_with_a_fresh_password_each_run(app, db):
    first = seed_staff(app)
    second = seed_staff(app)
    assert first != second and len(second) >= accounts.MIN_PASSWORD_LENGTH
    assert users(db) == [(DEMO_STAFF, "admin", True)]
    assert login(app.test_client(), DEMO_STAFF, first).status_code == 401
    assert login(app.test_client(), DEMO_STAFF, second).status_code == 302

"""``/staff/users``: admins add staff, change roles, deactivate and reactivate, and sign a user
out everywhere. Every change is audited by :mod:`payments.staff` in the same transaction."""

from __future__ import annotations

from collections.abc import Callable

from flask import redirect, render_template, request, url_for

from payments.staff import accounts
from payments.staff.models import ROLES, StaffUser
from portal import database
from portal.staff import bp, session
from portal.staff.roles import require_role


@bp.get("/users")
@require_role("admin")
def users(error: str | None = None, form: dict | None = None, status: int = 200):
    """Every staff user, and the form to add one."""
    rows = accounts.list_users(database.session())
    return render_template("staff/users.html", users=rows, roles=ROLES, error=error,
                           form=form or {}), status


@bp.post("/users")
@require_role("admin")
def add_user():
    """Add a staff user with an initial password the admin hands over."""
    email, role = request.form.get("email", ""), request.form.get("role", "")
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        return users("The two passwords differ.", {"email": email, "role": role}, 422)
    try:
        accounts.check_password(password)
        hashed = accounts.hash_password(password)  # outside the transaction: slow on purpose
        with database.db().transaction() as tx:
            accounts.add(tx, session.actor(), email, role, password, password_hash=hashed)
    except accounts.StaffError as exc:
        return users(_sentence(exc), {"email": email, "role": role}, 422)
    return redirect(url_for("staff.users"), 303)


def _change(user_id: int, work: Callable[..., StaffUser], *args: str):
    try:
        with database.db().transaction() as tx:
            work(tx, session.actor(), user_id, *args)
    except accounts.StaffError as exc:
        return users(_sentence(exc), status=422)
    return redirect(url_for("staff.users"), 303)


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + "."


@bp.post("/users/<id:user_id>/role")
@require_role("admin")
def set_role(user_id: int):
    """Give a staff user another role (takes effect on their next request)."""
    return _change(user_id, accounts.set_role, request.form.get("role", ""))


@bp.post("/users/<id:user_id>/deactivate")
@require_role("admin")
def deactivate(user_id: int):
    """Deactivate a staff user: they cannot log in, and every session they have ends now."""
    return _change(user_id, accounts.deactivate)


@bp.post("/users/<id:user_id>/activate")
@require_role("admin")
def activate(user_id: int):
    """Let a deactivated staff user log in again."""
    return _change(user_id, accounts.activate)


@bp.post("/users/<id:user_id>/sign-out")
@require_role("admin")
def sign_out(user_id: int):
    """End every session of a staff user (a lost laptop, a shared screen)."""
    return _change(user_id, accounts.end_all_sessions)

"""Login, logout, and "sign out everywhere".

A wrong email and a wrong password get the same message, status and (thanks to the dummy hash)
about the same time. Throttling is per (email, address) and per address, never per account
alone: see :mod:`payments.staff.throttle`.
"""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from payments.staff import accounts, throttle
from portal import database
from portal.staff import bp, session
from portal.staff.roles import public, require_role

WRONG = "That email and password do not match an active staff account."
THROTTLED = ("Too many failed attempts. Wait 15 minutes and try again, or ask an admin if you "
             "have forgotten your password.")


def _budget() -> throttle.Budget:
    return current_app.config.get("STAFF_LOGIN_BUDGET") or throttle.Budget()


def _form(error: str | None = None, email: str = "", status: int = 200):
    return render_template("staff/login.html", error=error, email=email,
                           next=request.values.get("next", "")), status


@bp.get("/login")
@public
def login():
    """The login form (already logged in: straight to the dashboard)."""
    if current_user.is_authenticated:
        return redirect(session.safe_next(request.args.get("next")))
    return _form()


@bp.post("/login")
@public
def login_submit():
    """Check the email and password within the throttle; start a fresh session on success."""
    email = request.form.get("email", "")[:320]
    password = request.form.get("password", "")
    ip = session.client_ip()
    db = database.db()
    with db.transaction() as tx:  # committed before the slow check: see login_throttle
        decision = throttle.begin(tx, email, ip, _budget())
    if not decision.allowed:
        return _form(THROTTLED, email, 429)
    with db.reader() as reader:
        user = accounts.authenticate(reader, email, password)
        # Hash outside the write transaction: Argon2 is slow on purpose.
        new_hash = accounts.hash_password(password) if user and accounts.needs_rehash(user) \
            else None
    if user is None or decision.attempt_id is None:
        return _form(WRONG, email, 401)
    with db.transaction() as tx:
        user = accounts.record_login(tx, user.id, ip, new_hash)
        throttle.succeeded(tx, decision.attempt_id)
    session.start(user)
    return redirect(session.safe_next(request.form.get("next")))


@bp.post("/logout")
@require_role("viewer")
def logout():
    """End this session (other browsers stay logged in)."""
    session.sign_out()
    return redirect(url_for("staff.login"))


@bp.post("/logout-everywhere")
@require_role("viewer")
def logout_everywhere():
    """End every session of the current user, on every device, this one included."""
    with database.db().transaction() as tx:
        accounts.end_all_sessions(tx, session.actor(), current_user.id)
    session.end()
    return redirect(url_for("staff.login"))

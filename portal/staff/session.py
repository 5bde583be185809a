"""Staff sessions with Flask-Login.

A session holds ``"<user id>.<session_version>"`` and the time it began. On every request the
user is reloaded from the database and the session is refused when the account is inactive, its
``session_version`` has moved on (sign out everywhere, deactivation, password change), or the
session is older than ``STAFF_SESSION_MAX_AGE``. So ending every session of a user is one
integer increment, with no list of sessions to keep. There is no remember-me cookie.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask, current_app, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from payments.staff import accounts, audit
from payments.staff.models import ROLES, StaffUser
from portal import database

MAX_AGE = timedelta(hours=12)  # a staff session ends this long after login, used or not

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = None  # the login page says what it needs to; no flashed notes


class StaffPrincipal(UserMixin):
    """The logged-in staff user as the request sees it (a detached copy, not an ORM row)."""

    def __init__(self, user: StaffUser) -> None:
        self.id, self.email, self.role = user.id, user.email, user.role
        self.session_version = user.session_version

    def get_id(self) -> str:
        """What the session stores: the user id and the session version it began under."""
        return f"{self.id}.{self.session_version}"

    def has_role(self, role: str) -> bool:
        """True when this user's role includes ``role`` (admin ⊃ clerk ⊃ viewer)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def init_app(app: Flask) -> None:
    """Bind Flask-Login to ``app``; hardening flags for a remember cookie we never set."""
    login_manager.init_app(app)
    app.config.setdefault("STAFF_SESSION_MAX_AGE", MAX_AGE)
    app.config.update(REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
                      REMEMBER_COOKIE_SECURE=app.config["SESSION_COOKIE_SECURE"])


@login_manager.user_loader
def _load(raw: str) -> StaffPrincipal | None:
    user_id, _, version = raw.partition(".")
    if not (user_id.isdigit() and version.isdigit()) or _too_old():
        return None
    user = accounts.load_session_user(database.session(), int(user_id), int(version))
    return StaffPrincipal(user) if user is not None else None


def _too_old() -> bool:
    began = session.get("staff_since")
    max_age = current_app.config["STAFF_SESSION_MAX_AGE"].total_seconds()
    return not isinstance(began, int) or time.time() - began > max_age


@login_manager.unauthorized_handler
def _unauthorized():
    # Back to where they were going after login, but only for pages (a GET): replaying a POST
    # target as a GET after login would only give a 405.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("staff.login", next=target))


def start(user: StaffUser) -> None:
    """Begin a fresh session for ``user``: nothing from the session before login survives
    (no fixation), including its CSRF token."""
    session.clear()
    login_user(StaffPrincipal(user))
    session["staff_since"] = int(time.time())


def end() -> None:
    """End this browser's session."""
    logout_user()
    session.clear()


def actor() -> audit.Actor:
    """The audit actor for the current request's staff user and address."""
    return audit.Actor(current_user.id, current_user.email, client_ip())


def client_ip() -> str:
    """The client's address (ProxyFix has already applied PORTAL_PROXY_COUNT)."""
    return request.remote_addr or "unknown"


def safe_next(target: str | None) -> str:
    """Where to go after login: a console path, never another site (``//evil``, ``/\\evil``)."""
    if (target and target.startswith("/staff/") and not target.startswith("/staff/login")
            and "\\" not in target and not any(c.isspace() for c in target)):
        return target
    return url_for("staff.dashboard")

"""Staff sessions with Flask-Login, kept on the server (:mod:`payments.staff.sessions`).

The cookie (Flask's signed session) carries a random session token, which Flask-Login keeps
as the "user id", and the CSRF token; no user id, role or expiry a client could replay. On
every request the token is looked up: the session is refused once its row is gone (signed
out, signed out everywhere, deactivated, password changed, ended from another browser) or it
has been idle for ``PORTAL_SESSION_IDLE_MINUTES`` or alive for ``PORTAL_SESSION_MAX_HOURS``.
There is no remember-me cookie.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from payments.staff import audit, sessions
from payments.staff.models import ROLES, StaffUser
from portal import database

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = None  # the login page says what it needs to; no flashed notes


class StaffPrincipal(UserMixin):
    """The logged-in staff user as the request sees it (a detached copy, not an ORM row),
    with the session it came in on."""

    def __init__(self, user: StaffUser, token: str, session_id: int) -> None:
        self.id, self.email, self.role = user.id, user.email, user.role
        self.token, self.session_id = token, session_id

    def get_id(self) -> str:
        """What the cookie stores: the session's random token."""
        return self.token

    def has_role(self, role: str) -> bool:
        """True when this user's role includes ``role`` (admin ⊃ clerk ⊃ viewer)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def init_app(app: Flask) -> None:
    """Bind Flask-Login to ``app``; the session limits; hardening flags for a remember
    cookie we never set."""
    login_manager.init_app(app)
    app.extensions["portal.staff_sessions"] = sessions.Limits(
        idle=timedelta(minutes=app.config["PORTAL_SESSION_IDLE_MINUTES"]),
        absolute=timedelta(hours=app.config["PORTAL_SESSION_MAX_HOURS"]))
    app.config.update(REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
                      REMEMBER_COOKIE_SECURE=app.config["SESSION_COOKIE_SECURE"])


def limits() -> sessions.Limits:
    """The app's session limits (idle and absolute timeouts)."""
    return current_app.extensions["portal.staff_sessions"]


@login_manager.user_loader
def _load(token: str) -> StaffPrincipal | None:
    resumed = sessions.resume(database.db(), token, limits())
    if resumed is None:
        return None
    return StaffPrincipal(resumed.user, token, resumed.session_id)


@login_manager.unauthorized_handler
def _unauthorized():
    # Back to where they were going after login, but only for pages (a GET): replaying a POST
    # target as a GET after login would only give a 405.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("staff.login", next=target))


def start(user: StaffUser) -> None:
    """Begin a fresh session for ``user``: a new row and token, and nothing from the cookie's
    session before login survives (no fixation), including its CSRF token."""
    session.clear()
    with database.db().transaction() as tx:
        token, session_id = sessions.begin(tx, user.id, client_ip(),
                                           request.user_agent.string or "")
    login_user(StaffPrincipal(user, token, session_id))


def sign_out() -> None:
    """The user signs this browser out: audited, then ended on the server."""
    with database.db().transaction() as tx:
        audit.record(tx, actor(), "staff.logout", ("staff_user", current_user.id))
    end()


def end() -> None:
    """End this browser's session, on the server first: a copy of the cookie dies with it."""
    if current_user.is_authenticated:
        with database.db().transaction() as tx:
            sessions.end(tx, current_user.token)
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

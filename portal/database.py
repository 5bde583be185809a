"""The database inside Flask: one engine per app, one read session per request."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from payments.db import Database


def init_app(app: Flask) -> None:
    """Create the app's :class:`Database` and close request sessions on teardown."""
    app.extensions["portal.db"] = Database(app.config["PORTAL_DATABASE_URL"])
    app.teardown_appcontext(_close_session)


def db() -> Database:
    """The current app's database."""
    return current_app.extensions["portal.db"]


def session() -> Session:
    """The request's read session (opened on first use, closed at the end of the request)."""
    if "db_session" not in g:
        g.db_session = db().reader()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    sess = g.pop("db_session", None)
    if sess is not None:
        sess.close()

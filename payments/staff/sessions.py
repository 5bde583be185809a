"""Console sessions kept on the server (OWASP ASVS 3.3): begun at login, resumed on each
request, ended by sign-out, by "sign out everywhere", a deactivation or a password change, and
by the idle and absolute timeouts.

The browser holds a 256-bit random token; the table holds its SHA-256, so a copy of the
database opens no session. Every check happens on the server on every request, so ending a
session ends it for every copy of its cookie, on every worker and instance sharing the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.db import Database
from payments.staff.models import StaffSession, StaffUser

# last_seen_at is written at most this often: a write per page view would buy the idle
# timeout a precision nobody needs.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Limits:
    """How long a session lives: ``idle`` since its last request, ``absolute`` since login."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)

    def expired(self, row: StaffSession, now: datetime) -> bool:
        """True once the session has been idle, or alive, too long."""
        return now - row.last_seen_at > self.idle or now - row.created_at > self.absolute


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def begin(session: Session, user_id: int, ip: str, user_agent: str) -> tuple[str, int]:
    """Start a session for the user; returns its token (for the cookie, never stored) and
    its row id."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = StaffSession(token_hash=_hash(token), user_id=user_id, created_at=now,
                       last_seen_at=now, ip=ip[:64], user_agent=user_agent[:300])
    session.add(row)
    session.flush()
    return token, row.id


@dataclass(frozen=True)
class Resumed:
    """A live session and its (active) user."""

    session_id: int
    user: StaffUser


def resume(db: Database, token: str, limits: Limits) -> Resumed | None:
    """The session behind ``token`` if it is live and its user active, marking it seen; an
    expired one is deleted. None when there is no such session (ended, expired, or forged)."""
    now = utcnow()
    with db.reader() as session:
        found = session.execute(
            select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.user_id)
            .where(StaffSession.token_hash == _hash(token))).first()
    if found is None:
        return None
    row, user = found
    if not user.active or limits.expired(row, now):
        with db.transaction() as session:
            session.execute(delete(StaffSession).where(StaffSession.id == row.id))
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        with db.transaction() as session:
            session.execute(update(StaffSession).where(StaffSession.id == row.id)
                            .values(last_seen_at=now))
    return Resumed(row.id, user)


def end(session: Session, token: str) -> None:
    """End the session behind ``token`` (sign out); nothing if it has ended already."""
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _hash(token)))


def end_one(session: Session, user_id: int, session_id: int) -> bool:
    """End one of the user's own sessions (another browser); False if it is not theirs."""
    return session.execute(delete(StaffSession).where(
        StaffSession.id == session_id, StaffSession.user_id == user_id)).rowcount == 1


def end_all(session: Session, user_id: int) -> int:
    """End every session of the user; how many there were."""
    return session.execute(delete(StaffSession).where(StaffSession.user_id == user_id)).rowcount


def active(session: Session, user_id: int) -> list[StaffSession]:
    """The user's sessions, most recently used first."""
    return list(session.scalars(select(StaffSession).where(StaffSession.user_id == user_id)
                                .order_by(StaffSession.last_seen_at.desc(),
                                          StaffSession.id.desc())))


def purge(db: Database, limits: Limits) -> int:
    """Delete every expired session (they would be refused anyway: this keeps the table to
    live sessions); how many went."""
    now = utcnow()
    with db.transaction() as session:
        return session.execute(delete(StaffSession).where(or_(
            StaffSession.last_seen_at < now - limits.idle,
            StaffSession.created_at < now - limits.absolute))).rowcount

"""Models of the staff side: staff accounts, failed-login bookkeeping, the audit log and the
API keys integrations use.

The audit log is append-only in the database itself (triggers created by migration 0003 refuse
UPDATE and DELETE on ``audit_entries``), so not even a bug in the app can rewrite history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.clock import UTCDateTime, utcnow
from payments.db import Base

ROLES = ("viewer", "clerk", "admin")  # each role can do everything the ones before it can


class StaffUser(Base):
    """An AR staff member who logs in to the console.

    ``email`` is stored lower-cased (the CHECK keeps it so), which makes the unique constraint
    case-insensitive on every backend. ``session_version`` is part of every session's identity:
    raising it ends all of the user's sessions at once (sign out everywhere, deactivation,
    password change). Staff users are deactivated, never deleted, so the audit log keeps its
    actors.
    """

    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'clerk', 'admin')", name="role_known"),
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint("session_version >= 1", name="session_version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A signed-in console session, kept on the server: the browser's cookie carries only a
    random token, looked up by its SHA-256. Deleting the row ends the session, so signing out
    (or an admin's deactivation) ends it for a copy of the cookie too."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300))


class LoginAttempt(Base):
    """One login attempt, kept for the throttling window (see :mod:`payments.staff.throttle`).

    The email is stored only as a SHA-256: people type passwords into the email field, and this
    table should not become a list of them.
    """

    __tablename__ = "staff_login_attempts"
    __table_args__ = (
        Index("ix_staff_login_attempts_ip_at", "ip", "at"),
        Index("ix_staff_login_attempts_email_ip_at", "email_hash", "ip", "at"),
        Index("ix_staff_login_attempts_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    """One staff action: who did what to which object, when, from where, before and after.

    ``actor`` is the actor's email at the time (or ``cli``), so entries read the same after the
    account changes; ``actor_id`` links to the account when there is one.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at", "at"),
        Index("ix_audit_entries_actor", "actor", "id"),
        Index("ix_audit_entries_action", "action", "id"),
        Index("ix_audit_entries_target", "target_type", "target_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    ip: Mapped[str | None] = mapped_column(String(45))


class ApiKey(Base):
    """A bearer key for the integration API; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

"""The audit log: every staff action, who did it, when, from where, before and after.

:func:`record` writes in the caller's session, so an entry commits or rolls back together with
the action it describes: there is never an action without its entry, nor an entry for an action
that did not happen. The table refuses UPDATE and DELETE (database triggers, migration 0003).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.paging import keyset
from payments.staff.models import AuditEntry, StaffUser

__all__ = ["CLI", "Actor", "AuditEntry", "AuditFilter", "AuditPage", "query", "record"]


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user (``id`` and email) or the command line (``id`` None)."""

    id: int | None
    label: str
    ip: str | None = None

    @classmethod
    def staff(cls, user: StaffUser, ip: str | None = None) -> Actor:
        """The actor for a logged-in staff user, seen from ``ip``."""
        return cls(user.id, user.email, ip)


CLI = Actor(None, "cli")


def record(session: Session, actor: Actor, action: str, target: tuple[str, Any] | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None
           ) -> AuditEntry:
    """Append an entry for ``action`` (e.g. ``staff.set_role``) on ``target`` = (type, id).

    Call it inside the transaction that performs the action. ``before``/``after`` hold only the
    fields that matter to a reader, and never a secret (no password hashes, no API keys).
    """
    target_type, target_id = target if target is not None else (None, None)
    entry = AuditEntry(actor_id=actor.id, actor=actor.label, action=action,
                       target_type=target_type,
                       target_id=None if target_id is None else str(target_id),
                       before=before, after=after, ip=actor.ip)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What to show: every field is optional; dates are inclusive UTC calendar days."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditPage:
    """One page of entries, newest first; ``next_cursor`` fetches the older ones (or None)."""

    entries: Sequence[AuditEntry]
    next_cursor: int | None


def query(session: Session, filters: AuditFilter | None = None, cursor: int | None = None,
          limit: int = 50) -> AuditPage:
    """Entries matching ``filters``, newest first, ``limit`` per page.

    Keyset pagination on ``id`` (entries are only ever appended, so ids grow with time): a page
    stays stable while new entries arrive, and deep pages cost the same as the first.
    """
    filters = filters or AuditFilter()
    stmt = select(AuditEntry)
    if filters.actor:
        stmt = stmt.where(AuditEntry.actor == filters.actor.strip().lower())
    if filters.action:
        stmt = stmt.where(AuditEntry.action == filters.action.strip())
    if filters.target_type:
        stmt = stmt.where(AuditEntry.target_type == filters.target_type.strip())
    if filters.target_id:
        stmt = stmt.where(AuditEntry.target_id == filters.target_id.strip())
    if filters.since:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(filters.since, time(), UTC))
    if filters.until:
        next_day = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        stmt = stmt.where(AuditEntry.at < next_day)
    found = keyset(session, stmt, AuditEntry.id, cursor, limit, newest_first=True)
    return AuditPage(found.rows, found.next_cursor)


def actions(session: Session) -> list[str]:
    """Every action name that occurs in the log (for the filter's choices)."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))

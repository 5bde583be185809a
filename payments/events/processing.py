"""Events applied off the request path: the webhook stores a verified event and answers; a task
applies it; a sweep finds what no task applied.

The queue may lose a task (a consumer killed mid-task), so the event row is the truth: an event
is applied once ``processed_at`` is set, in the transaction that applied it. Applying is
idempotent (the row is locked and re-checked), so a task run twice, a sweep that re-enqueues
an event whose task is merely slow, or two consumers on one event change nothing the second
time. A failed attempt is counted with a backoff; after ``GIVE_UP_AFTER`` the event waits for
staff, who see its error and can retry it now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.db import Database
from payments.events import event_store
from payments.events.event_store import Handler, Ingested
from payments.events.models import EventFailure, StripeEvent

GRACE = timedelta(seconds=30)  # a fresh event's own task is most likely still on its way
GIVE_UP_AFTER = 5  # failed attempts; then only staff ("retry now") try again
SWEEP_BATCH = 500


def store(db: Database, event: dict, source: str = "webhook") -> bool:
    """Store a verified event for a task to apply; True if it was new (enqueue its task).

    A database that cannot store it raises: the webhook then answers 5xx and Stripe delivers
    the event again.
    """
    # One statement on a bare connection (no ORM session): this is the webhook's whole cost.
    with db.engine.begin() as conn:
        return event_store.insert(conn, event, source, processed=False)


def process(db: Database, event_id: str, handle: Handler) -> Ingested:
    """Apply one stored event through ``handle`` (the handler table), unless it was applied:
    ``applied``, ``duplicate`` (done before, or not stored) or ``failed`` (recorded)."""

    def work(session: Session) -> Ingested:
        payload = event_store.claim(session, event_id)
        if payload is None:
            return Ingested("duplicate")
        handle(session, json.loads(payload))
        event_store.finish(session, event_id)
        return Ingested("applied")

    return event_store.run_once(db, event_id, None, work)


def due(db: Database, now: datetime | None = None, grace: timedelta = GRACE,
        limit: int = SWEEP_BATCH) -> list[str]:
    """Stored events no task has applied, oldest first: stored more than ``grace`` ago, and
    either never failed or due for another attempt and not given up on."""
    now = now or utcnow()
    failure = EventFailure
    with db.reader() as session:
        return list(session.scalars(
            select(StripeEvent.id)
            .outerjoin(failure, failure.event_id == StripeEvent.id)
            .where(StripeEvent.processed_at.is_(None), StripeEvent.received_at < now - grace,
                   or_(failure.event_id.is_(None),
                       and_(failure.attempts < GIVE_UP_AFTER,
                            or_(failure.next_attempt_at.is_(None),
                                failure.next_attempt_at <= now))))
            .order_by(StripeEvent.created, StripeEvent.id).limit(limit)))


@dataclass(frozen=True)
class Backlog:
    """What the background work has not done yet, for the console."""

    unprocessed: int
    oldest_received_at: datetime | None
    failing: int  # failed at least once, still being retried
    given_up: int  # waiting for staff


def backlog(session: Session) -> Backlog:
    """Counts of stored events not yet applied, and the oldest of them."""
    unprocessed, oldest = session.execute(
        select(func.count(), func.min(StripeEvent.received_at))
        .where(StripeEvent.processed_at.is_(None))).one()
    failing = session.execute(
        select(func.count().filter(EventFailure.attempts < GIVE_UP_AFTER),
               func.count().filter(EventFailure.attempts >= GIVE_UP_AFTER))
        .select_from(EventFailure).join(StripeEvent, StripeEvent.id == EventFailure.event_id)
        .where(EventFailure.resolved_at.is_(None), StripeEvent.processed_at.is_(None))).one()
    return Backlog(unprocessed, oldest, *failing)


def unapplied(db: Database) -> int:
    """How many stored events no task has applied yet."""
    with db.reader() as session:
        return backlog(session).unprocessed


def failed_events(session: Session, limit: int = 50) -> list[EventFailure]:
    """Unresolved failures of stored events, most attempts first (given up on at the top)."""
    return list(session.scalars(
        select(EventFailure).join(StripeEvent, StripeEvent.id == EventFailure.event_id)
        .where(EventFailure.resolved_at.is_(None), StripeEvent.processed_at.is_(None))
        .order_by(EventFailure.attempts.desc(), EventFailure.last_failed_at).limit(limit)))


def retry_now(session: Session, event_id: str) -> bool:
    """Staff's "retry now": make the event due at once; False if it is not waiting to apply.

    Its attempts stay counted (the history of the failure), so a given-up event is retried by
    the task the caller enqueues, not by the sweep.
    """
    waiting = session.scalar(select(StripeEvent.id).where(
        StripeEvent.id == event_id, StripeEvent.processed_at.is_(None)))
    if waiting is None:
        return False
    session.execute(update(EventFailure).where(EventFailure.event_id == event_id)
                    .values(next_attempt_at=utcnow()))
    return True

"""Stripe events in: verify the signature, store each event once, apply it once (marking it
applied in the transaction that applied it), and record failures where a rollback cannot erase
them. The webhook stores and queues (:mod:`payments.events.processing`); ``portal stripe sync``
stores and applies at once (:func:`ingest`).

Verification is never optional. A payload is accepted only with a ``Stripe-Signature`` whose
``v1`` HMAC-SHA256 matches one of the configured secrets (several, for rotation) and whose
timestamp is within the tolerance of now, in the past *or* the future.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.db import Database
from payments.events.models import EventFailure, StripeEvent
from payments.reads import run_with_reads
from payments.stripe.facts import payment_ref

TOLERANCE_SECONDS = 300
ATTEMPTS = 3  # tries of one delivery against a unique race or a deadlock
FIRST_RETRY = timedelta(seconds=30)  # then 1, 2, 4 … minutes, at most an hour
LAST_RETRY = timedelta(hours=1)

Handler = Callable[[Session, dict[str, Any]], None]


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failure an event is tried again."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)


class SignatureError(Exception):
    """The payload is not a genuine, fresh Stripe event; nothing was applied."""


def verify(payload: bytes, header: str | None, secrets: Sequence[str],
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """Return the event in ``payload`` if ``header`` proves it came from Stripe, else raise."""
    if not secrets:
        raise SignatureError("no webhook secret is configured, so no event can be verified")
    timestamp, signatures = _parse_header(header or "")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance window")
    signed = f"{timestamp}.".encode() + payload
    expected = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    if not any(hmac.compare_digest(e, sig) for e in expected for sig in signatures):
        raise SignatureError("no signature matches a configured secret")
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested past what json can parse
        raise SignatureError("the signed payload is not JSON") from None
    if not _is_event(event):
        raise SignatureError("the signed payload is not a Stripe event")
    return event


def _is_event(event: Any) -> bool:
    # Only the secret's holders get here, but a leaked secret or a bug on their side must
    # still get a 400 and nothing stored, not a 500 that Stripe retries for three days: check
    # every field the store reads, with the columns' limits.
    if not isinstance(event, dict):
        return False
    created, data = event.get("created"), event.get("data")
    return (_text(event.get("id"), 255) and _text(event.get("type"), 100)
            and (created is None or (isinstance(created, int) and not isinstance(created, bool)))
            and isinstance(data, dict) and isinstance(data.get("object"), dict)
            and len(payment_ref(event) or "") <= 255)


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("malformed Stripe-Signature header")
    return timestamp, signatures


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload`` (tests, the sandbox and benchmarks)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass(frozen=True)
class Ingested:
    """What happened to an event: ``applied``, ``duplicate`` or ``failed`` (with the error)."""

    outcome: str
    error: BaseException | None = None


# Built once: every event runs these two statements (Core, no per-call statement building).
_STORE = {name: dialect.insert(StripeEvent.__table__).on_conflict_do_nothing(index_elements=["id"])
          .returning(StripeEvent.__table__.c.id)
          for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_failures = EventFailure.__table__.c
_RESOLVE = (update(EventFailure.__table__)
            .where(_failures.event_id == bindparam("failed_event"), _failures.resolved_at.is_(None))
            .values(resolved_at=bindparam("now")))


def ingest(db: Database, event: dict[str, Any], handle: Handler, source: str) -> Ingested:
    """Store ``event`` once by id and handle it in the same transaction (recovery's path).

    A duplicate (already applied, or stored concurrently by another worker) is a no-op, found
    before the handler runs; one the webhook stored but no task applied yet is applied here. A
    handler that needs Stripe raises ``ReadFirst`` and is run again after the read
    (:func:`payments.reads.run_with_reads`); most events need nothing new and cost one
    transaction. If the handler (or its read) raises, everything it did is rolled back with the
    event row, and the failure is recorded in its own transaction for the next run to retry.
    """
    return run_once(db, event["id"], event["type"],
                    lambda session: _apply(session, event, handle, source))


def run_once(db: Database, event_id: str, event_type: str | None,
             work: Callable[[Session], Ingested]) -> Ingested:
    """Run ``work`` (applying one event) with its reads, retrying a unique race or a deadlock;
    any other error is recorded as the event's failure and returned, never raised."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return run_with_reads(db, work, attempts=1)
        except (IntegrityError, OperationalError) as exc:
            # Two events raced to create the same payment, or deadlocked: try again, the loser
            # now sees the winner.
            if attempt == ATTEMPTS:
                record_failure(db, event_id, event_type, exc)
                return Ingested("failed", exc)
        except Exception as exc:  # noqa: BLE001  (any handler error is recorded, then retried)
            record_failure(db, event_id, event_type, exc)
            return Ingested("failed", exc)
    raise AssertionError("unreachable")


def _apply(session: Session, event: dict[str, Any], handle: Handler, source: str) -> Ingested:
    # A stored twin (or a concurrent one, once it commits) makes this insert nothing; a twin the
    # webhook stored for a task that has not run yet is applied here instead.
    stored = insert(session.connection(), event, source, processed=True)
    if not stored and not claim(session, event["id"]):
        return Ingested("duplicate")
    handle(session, event)
    finish(session, event["id"])
    return Ingested("applied")


def insert(conn: Connection, event: dict[str, Any], source: str, processed: bool) -> bool:
    """Store ``event`` unless its id is stored already; True if this call stored it."""
    now = utcnow()
    inserted = conn.execute(_STORE[conn.dialect.name], {
        "id": event["id"], "type": event["type"], "created": int(event.get("created") or 0),
        "payload": json.dumps(event, separators=(",", ":")), "source": source,
        "received_at": now, "payment_ref": payment_ref(event),
        "processed_at": now if processed else None})
    return inserted.first() is not None


def claim(session: Session, event_id: str) -> str | None:
    """Lock the stored event; its payload if no one has applied it yet, else None."""
    row = session.execute(select(StripeEvent.payload, StripeEvent.processed_at)
                          .where(StripeEvent.id == event_id).with_for_update()).first()
    return row.payload if row is not None and row.processed_at is None else None


def finish(session: Session, event_id: str) -> None:
    """Mark the event applied (in the transaction that applied it) and its failure resolved."""
    now = utcnow()
    session.execute(update(StripeEvent).where(StripeEvent.id == event_id,
                                              StripeEvent.processed_at.is_(None))
                    .values(processed_at=now))
    session.connection().execute(_RESOLVE, {"failed_event": event_id, "now": now})


def record_failure(db: Database, event_id: str, event_type: str | None,
                   exc: BaseException) -> None:
    """Count a failed attempt at applying the event, in its own transaction (``event_type``
    None: read from the stored event); the next attempt is due after a backoff that doubles
    with each failure."""
    def work(session: Session) -> None:
        failure = session.scalar(select(EventFailure)
                                 .where(EventFailure.event_id == event_id).with_for_update())
        if failure is None:
            kind = event_type or session.scalar(select(StripeEvent.type)
                                                .where(StripeEvent.id == event_id))
            failure = EventFailure(event_id=event_id, type=kind or "unknown", attempts=0)
            session.add(failure)
        failure.attempts += 1
        failure.error_type = type(exc).__name__
        failure.error_message = str(exc)[:2000]
        failure.last_failed_at = utcnow()
        failure.next_attempt_at = failure.last_failed_at + retry_delay(failure.attempts)

    db.run(work)

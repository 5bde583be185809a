"""Login throttling: a small budget of failures per (account, address), a larger one per address.

There is deliberately no budget per account alone: it would let anyone lock a real user out by
failing logins in their name from elsewhere. Someone guessing one account's password from one
address gets ``per_account_ip`` tries per window; from one address across many accounts,
``per_ip``. The account's owner, from their own address, is not affected by either.

Counters live in the database (``staff_login_attempts``), not in the rate limiter's memory
storage: they are then shared by every worker and host without Redis, survive restarts, and
cannot be multiplied by the number of gunicorn workers.

Each attempt is inserted, counted and committed *before* the (slow) password check, and the
attempts of one address are serialized while they do so (SQLite: one writer at a time;
PostgreSQL: a transaction-scoped advisory lock on the address), so a burst of parallel guesses
cannot all slip past a budget that none of them has yet spent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.staff.models import LoginAttempt

KEEP = timedelta(days=1)  # attempts older than this are pruned


@dataclass(frozen=True)
class Budget:
    """Failed logins allowed per ``window``: per (account, address), and per address."""

    per_account_ip: int = 5
    per_ip: int = 50
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Decision:
    """Whether this attempt may check a password; ``attempt_id`` is for :func:`succeeded`."""

    allowed: bool
    attempt_id: int | None


def email_key(email: str) -> str:
    """What the throttle stores of an email: the SHA-256 of its normalized form."""
    return hashlib.sha256(email.strip().lower().encode("utf-8", "surrogateescape")).hexdigest()


def begin(session: Session, email: str, ip: str, budget: Budget,
          now: datetime | None = None) -> Decision:
    """Record a login attempt, counted as a failure until :func:`succeeded`; say if it may go on.

    A refused attempt is not kept: a user who waits out the window gets a full budget back,
    however often they tried while throttled.
    """
    now = now or utcnow()
    key = email_key(email)
    _serialize(session, ip)
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - KEEP))
    attempt = LoginAttempt(email_hash=key, ip=ip, at=now, succeeded=False)
    session.add(attempt)
    session.flush()
    start = now - budget.window
    failed = (select(func.count()).select_from(LoginAttempt)
              .where(LoginAttempt.ip == ip, LoginAttempt.at >= start,
                     LoginAttempt.succeeded.is_(False)))
    # Failures of this pair count only since its last success: a user who mistyped and then
    # got in starts afresh.
    last_success = (select(func.coalesce(func.max(LoginAttempt.id), 0))
                    .where(LoginAttempt.email_hash == key, LoginAttempt.ip == ip,
                           LoginAttempt.succeeded.is_(True)).scalar_subquery())
    pair = session.scalar(failed.where(LoginAttempt.email_hash == key,
                                       LoginAttempt.id > last_success))
    by_ip = session.scalar(failed)
    if (pair or 0) > budget.per_account_ip or (by_ip or 0) > budget.per_ip:
        session.delete(attempt)
        return Decision(False, None)
    return Decision(True, attempt.id)


def _serialize(session: Session, ip: str) -> None:
    # Without it, two PostgreSQL transactions counting at once see neither's insert (READ
    # COMMITTED) and both pass the last slot of the budget: N parallel guesses, N passes.
    if session.get_bind().dialect.name == "postgresql":
        lock_key = int.from_bytes(hashlib.sha256(b"login:" + ip.encode()).digest()[:8], "big",
                                  signed=True)
        session.execute(select(func.pg_advisory_xact_lock(lock_key)))


def succeeded(session: Session, attempt_id: int) -> None:
    """The attempt logged in: it no longer counts as a failure."""
    session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id)
                    .values(succeeded=True))

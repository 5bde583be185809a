"""The outbox's rows: queued in the producer's transaction, claimed by one sender, then sent,
retried with a backoff, failed for staff, or canceled.

A producer writes its email in the same transaction as the change that calls for it (a link
issued, a staff action audited), so either both happen or neither; a task sends it after the
commit. Huey may lose that task, so the row is the truth: a sweep sends what is due and no
task sent. Sending twice is what the rows prevent:

- a unique ``key`` per logical message: a producer that runs twice (a retried tick, two
  machines) queues one row;
- a claim (``pending`` → ``sending`` in one conditional UPDATE) lets one sender at a time
  have a row, however many tasks and ticks race for it.

The one window left is a sender that dies after the mail relay accepted the message and before
the row says so: after :data:`STALE` the row is sent again, with the same ``Message-ID``, so
the duplicate is recognisable (mail relays and clients drop or thread it as one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.db import Database
from payments.links.models import PayLink
from payments.outbox.models import OutboxEmail

LINK = "{pay-link}"  # where a body's pay link goes; the sender puts the live URL there
MAX_ATTEMPTS = 8  # 1, 2, 4 … 60 minutes apart: about two hours of relay outage, then staff
STALE = timedelta(minutes=10)  # a row "sending" this long lost its sender
SWEEP_BATCH = 200

_table = OutboxEmail.__table__
_QUEUE = {name: dialect.insert(_table).on_conflict_do_nothing(index_elements=["key"])
          .returning(_table.c.id) for name, dialect in (("postgresql", postgresql),
                                                        ("sqlite", sqlite))}


@dataclass(frozen=True)
class Draft:
    """A customer email to queue. ``body`` holds :data:`LINK` where ``link_id``'s URL goes."""

    key: str
    kind: str
    to: str
    subject: str
    body: str
    link_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None  # an HTML alternative, with the same link marks as the body
    links: tuple[int, ...] = ()  # more links, marked with link_mark() and pdf_mark()


def link_mark(link_id: int) -> str:
    """Where the URL of link ``link_id`` goes in a body with several links."""
    return f"{{link:{link_id}}}"


def pdf_mark(link_id: int) -> str:
    """Where the PDF URL of link ``link_id`` goes (the link's page, ``/pdf``)."""
    return f"{{pdf:{link_id}}}"


_MARKS = re.compile(r"\{(?:link|pdf):(\d+)\}")


def marked(text: str) -> set[int]:
    """The ids of the links marked in ``text``."""
    return {int(found) for found in _MARKS.findall(text)}


def fill_marks(text: str, links: Mapping[int, PayLink | None],
               link_url: Callable[[PayLink], str], dead: str = "") -> str:
    """``text`` with each link's marks replaced by its URL (a PDF mark by its PDF's URL),
    or by ``dead`` for a link that is no longer live (None)."""
    for link_id, link in links.items():
        url = link_url(link) if link is not None else None
        text = text.replace(link_mark(link_id), url or dead)
        text = text.replace(pdf_mark(link_id), f"{url}/pdf" if url else dead)
    return text


@dataclass(frozen=True)
class Claimed:
    """A row one sender now holds, with its link (None: no link, or no longer live)."""

    id: int
    key: str
    kind: str
    to: str
    subject: str
    body: str
    headers: dict[str, str]
    attempts: int
    wants_link: bool
    link: PayLink | None
    html: str | None = None
    links: dict[int, PayLink | None] = field(default_factory=dict)  # None: no longer live


def queue(session: Session, draft: Draft) -> int | None:
    """Queue ``draft`` in the caller's transaction: its row id, or None when a row with its
    key exists (the message was queued before: nothing new to send)."""
    inserted = session.connection().execute(_QUEUE[session.bind.dialect.name], _row(draft))
    return inserted.scalar()


def queue_many(session: Session, drafts: list[Draft]) -> dict[str, int]:
    """Queue several drafts with one statement: the row id of each key newly queued (keys
    queued before are left out)."""
    if not drafts:
        return {}
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(_table).on_conflict_do_nothing(index_elements=["key"])
                 .returning(_table.c.key, _table.c.id))
    return dict(session.connection().execute(statement, [_row(d) for d in drafts]).all())


def _row(draft: Draft) -> dict:
    if (LINK in draft.body) != (draft.link_id is not None):
        raise ValueError("a body carries the link placeholder exactly when it has a link")
    return {"key": draft.key, "kind": draft.kind, "to_address": draft.to,
            "subject": draft.subject, "body": draft.body, "headers": dict(draft.headers),
            "link_id": draft.link_id, "html": draft.html, "links": list(draft.links) or None,
            "status": "pending", "attempts": 0, "created_at": utcnow()}


def claim(db: Database, email_id: int, now: datetime | None = None) -> Claimed | None:
    """Take the row for sending if it is pending and due; None if it is sent, canceled, not
    due yet, or another sender has it."""
    now = now or utcnow()
    with db.transaction() as session:
        row = session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == email_id, OutboxEmail.status == "pending",
                   or_(OutboxEmail.next_attempt_at.is_(None),
                       OutboxEmail.next_attempt_at <= now))
            .values(status="sending", claimed_at=now, attempts=OutboxEmail.attempts + 1)
            .returning(OutboxEmail.link_id)).first()
        if row is None:
            return None
        email = session.get(OutboxEmail, email_id)
        link = session.get(PayLink, email.link_id) if email.link_id is not None else None
        more = {link_id: live(session.get(PayLink, link_id), now)
                for link_id in email.links or ()}
        return Claimed(email.id, email.key, email.kind, email.to_address, email.subject,
                       email.body, dict(email.headers or {}), email.attempts,
                       LINK in email.body, live(link, now), email.html, more)


def live(link: PayLink | None, now: datetime) -> PayLink | None:
    """``link`` if it is neither revoked nor expired at ``now``, else None."""
    alive = link is not None and link.revoked_at is None and (
        link.expires_at is None or link.expires_at > now)
    return link if alive else None


def sent(db: Database, email_id: int) -> None:
    """The relay accepted the message."""
    _finish(db, email_id, status="sent", last_error=None)


def canceled(db: Database, email_id: int, reason: str) -> None:
    """The message must not go out (its link was revoked or expired before it could)."""
    _finish(db, email_id, status="canceled", last_error=reason)


def failed(db: Database, email_id: int, error: BaseException, permanent: bool,
           now: datetime | None = None) -> str:
    """Count a failed attempt: ``retrying`` (due again after a backoff that doubles from a
    minute to an hour) or ``failed`` (permanent, or :data:`MAX_ATTEMPTS` reached: staff)."""
    now = now or utcnow()
    message = f"{type(error).__name__}: {error}"[:2000]
    with db.transaction() as session:
        attempts = session.scalar(select(OutboxEmail.attempts).where(OutboxEmail.id == email_id))
        if permanent or attempts >= MAX_ATTEMPTS:
            outcome, values = "failed", {"status": "failed", "finished_at": now}
        else:
            delay = min(timedelta(minutes=2 ** (attempts - 1)), timedelta(hours=1))
            outcome, values = "retrying", {"status": "pending", "next_attempt_at": now + delay}
        session.execute(update(OutboxEmail).where(OutboxEmail.id == email_id,
                                                  OutboxEmail.status == "sending")
                        .values(last_error=message, **values))
    return outcome


def _finish(db: Database, email_id: int, status: str, last_error: str | None) -> None:
    with db.transaction() as session:
        session.execute(update(OutboxEmail).where(OutboxEmail.id == email_id,
                                                  OutboxEmail.status == "sending")
                        .values(status=status, last_error=last_error, finished_at=utcnow()))


def due(db: Database, now: datetime | None = None, grace: timedelta = timedelta(seconds=30),
        limit: int = SWEEP_BATCH) -> list[int]:
    """Rows to send now, oldest first: pending and due (a fresh row only after ``grace``, its
    own task most likely being on its way). Rows "sending" for :data:`STALE` lost their
    sender and become pending again first."""
    now = now or utcnow()
    with db.transaction() as session:
        session.execute(update(OutboxEmail)
                        .where(OutboxEmail.status == "sending",
                               OutboxEmail.claimed_at < now - STALE)
                        .values(status="pending", last_error="the sender stopped mid-send",
                                next_attempt_at=None))
    with db.reader() as session:
        return list(session.scalars(
            select(OutboxEmail.id)
            .where(OutboxEmail.status == "pending",
                   or_(OutboxEmail.next_attempt_at <= now,
                       and_(OutboxEmail.next_attempt_at.is_(None),
                            or_(OutboxEmail.attempts > 0,
                                OutboxEmail.created_at < now - grace))))
            .order_by(OutboxEmail.id).limit(limit)))


def retry(session: Session, email_id: int) -> bool:
    """Staff's "retry": a failed email goes back to pending with a fresh round of attempts;
    False if it is not failed (sent, canceled, or still being retried)."""
    return session.execute(
        update(OutboxEmail).where(OutboxEmail.id == email_id, OutboxEmail.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=None, finished_at=None)
    ).rowcount == 1


@dataclass(frozen=True)
class Summary:
    """The outbox at a glance, for the console."""

    pending: int  # waiting for their first attempt
    retrying: int  # failed at least once, due again
    failed: int  # given up on: staff retry them
    oldest_pending_at: datetime | None


def summary(session: Session) -> Summary:
    """Counts of emails not sent yet, by state, and when the oldest was queued."""
    open_ = OutboxEmail.status.in_(("pending", "sending"))
    pending, retrying, failed_, oldest = session.execute(select(
        func.count().filter(open_, OutboxEmail.attempts == 0),
        func.count().filter(open_, OutboxEmail.attempts > 0),
        func.count().filter(OutboxEmail.status == "failed"),
        func.min(OutboxEmail.created_at).filter(open_))).one()
    return Summary(pending, retrying, failed_, oldest)


def troubled(session: Session, limit: int = 50) -> list[OutboxEmail]:
    """Emails that failed (given up first, then those being retried), newest first."""
    return list(session.scalars(
        select(OutboxEmail)
        .where(or_(OutboxEmail.status == "failed",
                   and_(OutboxEmail.status.in_(("pending", "sending")), OutboxEmail.attempts > 0)))
        .order_by((OutboxEmail.status == "failed").desc(), OutboxEmail.id.desc()).limit(limit)))


def latest(session: Session, *, invoice_id: int | None = None,
           customer_id: int | None = None) -> OutboxEmail | None:
    """The last email that carried one of an invoice's (or a statement's) links, any state."""
    target = (PayLink.invoice_id == invoice_id if invoice_id is not None
              else PayLink.customer_id == customer_id)
    return session.scalar(select(OutboxEmail).join(PayLink, PayLink.id == OutboxEmail.link_id)
                          .where(target).order_by(OutboxEmail.id.desc()).limit(1))

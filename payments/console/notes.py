"""Customer notes: what staff learned when they contacted a customer, shared by all of them.

Notes are append-only, like the audit log: a note is never edited or deleted (database triggers
refuse UPDATE and DELETE, migration 0005), so the history of a customer relationship can be
trusted. Each note keeps its author's id and, as a snapshot, the email they had when writing it.
Adding one is audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.console.models import MAX_LENGTH, CustomerNote
from payments.invoicing.models import Customer
from payments.paging import keyset
from payments.staff import audit


class NoteError(ValueError):
    """A note that cannot be added; the message is for the person who wrote it."""


@dataclass(frozen=True)
class NotesPage:
    """Newest first; ``next_cursor`` (a note id) fetches older notes, None at the end."""

    notes: Sequence[CustomerNote]
    next_cursor: int | None


def add(session: Session, actor: audit.Actor, customer_id: int, body: str) -> CustomerNote:
    """Append a note by ``actor`` (a staff user) to the customer, audited.

    Raises :class:`NoteError` for a blank or too long note, an unknown customer, or an actor
    that is not a staff user (the command line has no author to show).
    """
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise NoteError("Write something in the note first.")
    if len(body) > MAX_LENGTH:
        raise NoteError(f"A note can be at most {MAX_LENGTH} characters long "
                        f"(this one has {len(body)}).")
    if actor.id is None:
        raise NoteError("Only a staff user can write a note.")
    if session.get(Customer, customer_id) is None:
        raise NoteError("There is no such customer.")
    note = CustomerNote(customer_id=customer_id, author_id=actor.id, author_email=actor.label,
                        body=body, created_at=utcnow())
    session.add(note)
    session.flush()
    audit.record(session, actor, "customer.note_add", ("customer", customer_id), None,
                 {"note_id": note.id, "body": body})
    return note


def page(session: Session, customer_id: int, cursor: int | None = None,
         limit: int = 50) -> NotesPage:
    """The customer's notes, newest first, ``limit`` at a time (keyset on id: notes are only
    appended, so ids grow with time and a page stays put while colleagues add notes)."""
    query = select(CustomerNote).where(CustomerNote.customer_id == customer_id)
    found = keyset(session, query, CustomerNote.id, cursor, limit, newest_first=True)
    return NotesPage(found.rows, found.next_cursor)

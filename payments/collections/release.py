"""A reminder that did not go out frees its steps: the stop check at send time, and contacts
whose email the outbox canceled (a link revoked before it could go).

The outbox calls :func:`guard` just before the mail relay gets a reminder. If a stop rule now
holds for any of its invoices (paid a second ago, a payment clearing, a promise just recorded)
the email is canceled and its contact released: its steps are no longer done, and the next
tick writes a fresh reminder for the invoices still due, without the stopped ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections import stops
from payments.collections.log_models import Contact, ContactItem
from payments.collections.models import InvoiceChase
from payments.db import Database, among
from payments.outbox.models import OutboxEmail
from payments.outbox.outbox import Claimed


def guard(db: Database, email: Claimed) -> str | None:
    """Why the reminder ``email`` must not go out now, or None to send it."""
    with db.transaction() as session:
        contact = session.scalar(select(Contact).where(Contact.outbox_email_id == email.id)
                                 .with_for_update())
        if contact is None or contact.status == "canceled":
            return "the reminder was withdrawn"
        ids = [item.invoice_id for item in contact.items]
        stopped = stops.check(session, stops.load(session, ids),
                              {contact.customer_id: contact.day}, ids)
        if not stopped:
            return None
        first = min(stopped)
        reason = f"stopped before sending: {stopped[first]}"
        free(session, contact, reason)
        return reason


def free(session: Session, contact: Contact, reason: str) -> None:
    """Cancel ``contact`` and undo its steps, so a later tick can do them again."""
    invoice_ids = [item.invoice_id for item in contact.items]
    contact.status, contact.canceled_reason = "canceled", reason[:2000]
    session.execute(delete(ContactItem).where(ContactItem.contact_id == contact.id))
    session.flush()
    _rewind(session, invoice_ids)


def _rewind(session: Session, invoice_ids: Iterable[int]) -> None:
    """Each invoice's last done step, from the items that remain."""
    for invoice_id in set(invoice_ids):
        last = session.scalar(select(func.max(ContactItem.offset_days))
                              .where(ContactItem.invoice_id == invoice_id))
        row = session.get(InvoiceChase, invoice_id)
        if row is not None:
            row.last_offset = last
    session.flush()


def stopped_tasks(session: Session, today: date) -> int:
    """Withdraw the open calls, letters and escalations none of whose invoices may be chased
    any more (paid since, money clearing, a promise, on hold): nobody should call about a
    paid invoice. How many were withdrawn."""
    tasks = session.scalars(select(Contact).where(
        text("reminder_contacts.status IN ('open', 'queued')"), Contact.status == "open")).all()
    if not tasks:
        return 0
    covers: dict[int, set[int]] = {}
    for contact_id, invoice_id in session.execute(
            select(ContactItem.contact_id, ContactItem.invoice_id)
            .where(among(session, ContactItem.contact_id, [t.id for t in tasks]))):
        covers.setdefault(contact_id, set()).add(invoice_id)
    ids = sorted(set().union(*covers.values())) if covers else []
    stopped = stops.check(session, stops.load(session, ids),
                          {t.customer_id: today for t in tasks}, ids)
    withdrawn = 0
    for task in tasks:
        mine = covers.get(task.id, set())
        if mine and mine <= set(stopped):
            free(session, task, f"withdrawn: {stopped[min(mine)]}")
            withdrawn += 1
    return withdrawn


def settle_emails(session: Session) -> int:
    """Contacts still "queued" whose email is finished: sent ones are done, canceled ones
    released (their steps free again); how many were released."""
    sent = select(OutboxEmail.id).where(OutboxEmail.status == "sent")
    session.execute(update(Contact).where(Contact.status == "queued",
                                          Contact.outbox_email_id.in_(sent))
                    .values(status="done", done_at=utcnow()))
    found = session.scalars(
        select(Contact).join(OutboxEmail, OutboxEmail.id == Contact.outbox_email_id)
        .where(Contact.status == "queued", OutboxEmail.status == "canceled")).all()
    for contact in found:
        email = session.get(OutboxEmail, contact.outbox_email_id)
        free(session, contact, f"the email was canceled: {email.last_error or 'no reason'}")
    return len(found)

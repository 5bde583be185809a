"""One timeline per customer, what AR and customer service both see, newest first: notes,
every contact collections made (emails with their text, letters, call tasks, escalations,
with their status and why), calls and their outcomes, promises (made, then kept, broken or
canceled), payments, and link events (staff rotating, revoking or emailing a link; the
customer asking for a fresh one), with the collections settings staff changed, and disputes
(raised, each message of their thread, and how they were resolved).

Bounded: a page is the newest ``limit`` entries before a moment (the ``before`` cursor).
Each source is asked for its own newest ``limit`` + 1 rows before it, and the rows are merged
here, so a page costs a handful of indexed queries however long the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from payments.collections import compose
from payments.collections.log_models import CallLog, Contact
from payments.collections.models import Promise
from payments.console.models import CustomerNote
from payments.disputes.models import REASONS, Dispute, DisputeMessage
from payments.invoicing.models import Invoice
from payments.ledger.models import Payment
from payments.links.models import PayLink
from payments.money import format_money
from payments.outbox.models import OutboxEmail
from payments.staff.models import AuditEntry

DEFAULT_LIMIT = 100
CONTACT_KINDS = {"email": "email", "letter": "letter", "call": "call_task",
                 "escalate": "escalation"}
CALL_WORDS = {"reached": "reached", "left_message": "left a message", "promise": "promise to pay",
              "dispute": "disputed", "wrong_contact": "wrong contact"}
LINK_VERBS = {"rotate": "replaced (the old one stopped working)", "revoke": "revoked",
              "email": "emailed to the customer"}
SETTINGS_ACTIONS = {"collections.profile_save": "Collections settings changed",
                    "collections.window_add": "Contact window added",
                    "collections.window_remove": "Contact window removed",
                    "invoice.chase_hold": "Invoice chasing changed"}


@dataclass(frozen=True)
class Entry:
    """One thing that happened: ``kind`` is note, email, letter, call_task, escalation, call,
    promise, payment, link, settings or dispute; ``actor`` None means the portal or the customer."""

    at: datetime
    kind: str
    title: str
    detail: str
    actor: str | None = None


@dataclass(frozen=True)
class Timeline:
    """Newest first; ``next_before`` (a moment) fetches older entries, None at the end."""

    entries: list[Entry]
    next_before: datetime | None


def _newest(query, column, before: datetime | None, limit: int):
    if before is not None:
        query = query.where(column < before)
    return query.order_by(column.desc()).limit(limit + 1)


def _notes(session: Session, cid: int, before, limit: int, _locale: str) -> Iterator[Entry]:
    query = select(CustomerNote).where(CustomerNote.customer_id == cid)
    for note in session.scalars(_newest(query, CustomerNote.created_at, before, limit)):
        yield Entry(note.created_at, "note", "Note", note.body, note.author_email)


def _contact_title(contact: Contact, sent: str | None) -> str:
    if contact.channel == "email":
        state = {"sent": "sent", "failed": "not delivered", "canceled": "canceled"}.get(
            sent or "", "queued")
        return f"Reminder email {state}: {contact.subject or ''}".rstrip(": ")
    name = {"letter": "Letter to print and mail", "call": "Call task",
            "escalate": "Escalation"}[contact.channel]
    return f"{name} ({contact.status})"


def _contacts(session: Session, cid: int, before, limit: int, _locale: str) -> Iterator[Entry]:
    query = (select(Contact, OutboxEmail.status)
             .outerjoin(OutboxEmail, OutboxEmail.id == Contact.outbox_email_id)
             .where(Contact.customer_id == cid))
    for contact, sent in session.execute(_newest(query, Contact.created_at, before, limit)):
        parts = [f"To {contact.to_address}." if contact.to_address else "",
                 compose.readable(contact.body), f"Why: {contact.why}"]
        if contact.status == "canceled" and contact.canceled_reason:
            parts.append(f"Canceled: {contact.canceled_reason}")
        if contact.done_at and contact.done_by:
            parts.append(f"Done {contact.done_at:%Y-%m-%d %H:%M} UTC by {contact.done_by}.")
        yield Entry(contact.created_at, CONTACT_KINDS[contact.channel],
                    _contact_title(contact, sent), "\n\n".join(p for p in parts if p),
                    contact.done_by)


def _calls(session: Session, cid: int, before, limit: int, _locale: str) -> Iterator[Entry]:
    query = select(CallLog).where(CallLog.customer_id == cid)
    for call in session.scalars(_newest(query, CallLog.created_at, before, limit)):
        yield Entry(call.created_at, "call", f"Call: {CALL_WORDS.get(call.outcome, call.outcome)}",
                    call.note or "", call.author_email)


def _promises(session: Session, cid: int, before, limit: int, locale: str) -> Iterator[Entry]:
    # A promise is two events (made, settled): rows ranked by their latest event hold the
    # newest ``limit`` events of either kind.
    latest = func.coalesce(Promise.settled_at, Promise.created_at)
    query = select(Promise).where(Promise.customer_id == cid)
    if before is not None:
        query = query.where(or_(Promise.created_at < before, Promise.settled_at < before))
    for p in session.scalars(query.order_by(latest.desc(), Promise.id.desc()).limit(limit + 1)):
        what = (f"{format_money(p.amount, p.currency, locale)} by "
                f"{p.promised_on.isoformat()}")
        said = " ".join(x for x in (f"From {p.contact}." if p.contact else "", p.note or "") if x)
        yield Entry(p.created_at, "promise", f"Promise to pay {what}", said, p.created_by)
        if p.settled_at is not None and p.status != "open":
            yield Entry(p.settled_at, "promise", f"Promise {p.status}: {what}", "", None)


def _payments(session: Session, cid: int, before, limit: int, locale: str) -> Iterator[Entry]:
    query = select(Payment).where(Payment.customer_id == cid)
    for p in session.scalars(_newest(query, Payment.created_at, before, limit)):
        method = (p.method or "").replace("_", " ") or "an unknown method"
        taken = [f"refunded {format_money(p.amount_refunded, p.currency, locale)}"
                 if p.amount_refunded else "",
                 f"disputed {format_money(p.amount_disputed, p.currency, locale)}"
                 if p.amount_disputed else ""]
        detail = "; ".join(x for x in [f"Stripe {p.payment_intent_id}", *taken] if x)
        amount = format_money(p.amount, p.currency, locale)
        yield Entry(p.created_at, "payment", f"Payment of {amount} by {method} ({p.status})",
                    detail, None)


def _audited(session: Session, cid: int, before, limit: int, _locale: str) -> Iterator[Entry]:
    invoices = select(cast(Invoice.id, String)).where(Invoice.customer_id == cid)
    mine = or_(
        (AuditEntry.target_type == "customer") & (AuditEntry.target_id == str(cid))
        & (AuditEntry.action.like("customer.statement_link_%")
           | AuditEntry.action.in_(list(SETTINGS_ACTIONS))),
        (AuditEntry.target_type == "invoice") & AuditEntry.target_id.in_(invoices)
        & (AuditEntry.action.like("invoice.link_%") | (AuditEntry.action == "invoice.chase_hold")))
    found = session.scalars(_newest(select(AuditEntry).where(mine), AuditEntry.at, before,
                                    limit)).all()
    numbers = dict(session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(
        {int(e.target_id) for e in found if e.target_type == "invoice"}))).all())
    for e in found:
        yield _audit_entry(e, numbers.get(int(e.target_id)) if e.target_type == "invoice"
                           else None)


def _audit_entry(e: AuditEntry, number: str | None) -> Entry:
    if e.action in SETTINGS_ACTIONS:
        title = SETTINGS_ACTIONS[e.action] + (f" on invoice {number}" if number else "")
        return Entry(e.at, "settings", title, _changes(e.before, e.after), e.actor)
    verb = e.action.rsplit("_", 1)[-1]
    what = f"Pay link of invoice {number}" if number else "Statement link"
    to = (e.after or {}).get("to")
    return Entry(e.at, "link", f"{what} {LINK_VERBS.get(verb, verb)}",
                 f"Sent to {to}." if to else "", e.actor)


def _changes(before: dict | None, after: dict | None) -> str:
    """"learn_timing: True → False; hours_start: 9 → 8", or what was added or removed."""
    before, after = before or {}, after or {}
    changed = [f"{k}: {before.get(k)} → {after.get(k)}" for k in after
               if k in before and before[k] != after[k]]
    if not before or not after:
        changed = [f"{k}: {v}" for k, v in (after or before).items() if v not in (None, "")]
    return "; ".join(changed)


def _fresh_links(session: Session, cid: int, before, limit: int,
                 _locale: str) -> Iterator[Entry]:
    invoices = select(Invoice.id).where(Invoice.customer_id == cid)
    query = (select(OutboxEmail, PayLink.invoice_id)
             .join(PayLink, PayLink.id == OutboxEmail.link_id)
             .where(OutboxEmail.kind == "fresh_link",
                    or_(PayLink.customer_id == cid, PayLink.invoice_id.in_(invoices))))
    rows = session.execute(_newest(query, OutboxEmail.created_at, before, limit)).all()
    numbers = dict(session.execute(select(Invoice.id, Invoice.number).where(
        Invoice.id.in_({i for _e, i in rows if i}))).all())
    for email, invoice_id in rows:
        what = f"link to invoice {numbers[invoice_id]}" if invoice_id else "statement link"
        yield Entry(email.created_at, "link", f"Customer asked for a fresh {what}",
                    f"Emailed to {email.to_address} ({email.status}).", None)


OUTCOME_WORDS = {"credited": "credited", "adjusted": "amount changed", "rejected": "rejected",
                 "voided": "the invoice was voided"}


def _dispute_messages(session: Session, cid: int, before, limit: int,
                      locale: str) -> Iterator[Entry]:
    # Each message of the thread the customer sees: the first one is the dispute raised.
    query = (select(DisputeMessage, Dispute, Invoice.number)
             .join(Dispute, Dispute.id == DisputeMessage.dispute_id)
             .join(Invoice, Invoice.id == Dispute.invoice_id).where(Dispute.customer_id == cid))
    firsts = select(func.min(DisputeMessage.id)).group_by(DisputeMessage.dispute_id)
    rows = session.execute(_newest(query, DisputeMessage.created_at, before, limit)).all()
    first_ids = set(session.scalars(firsts.where(
        DisputeMessage.dispute_id.in_({d.id for _m, d, _n in rows})))) if rows else set()
    for message, dispute, number in rows:
        if message.id in first_ids:
            amount = format_money(dispute.amount, dispute.currency, locale)
            title = (f"Customer disputed invoice {number}: {REASONS[dispute.reason]} "
                     f"({amount})")
        elif message.from_staff:
            title = f"Reply to the customer on the dispute of invoice {number}"
        else:
            title = f"Customer wrote on the dispute of invoice {number}"
        yield Entry(message.created_at, "dispute", title, message.body, message.author)


def _dispute_outcomes(session: Session, cid: int, before, limit: int,
                      _locale: str) -> Iterator[Entry]:
    query = (select(Dispute, Invoice.number).join(Invoice, Invoice.id == Dispute.invoice_id)
             .where(Dispute.customer_id == cid, Dispute.resolved_at.is_not(None)))
    for dispute, number in session.execute(_newest(query, Dispute.resolved_at, before, limit)):
        yield Entry(dispute.resolved_at, "dispute",
                    f"Dispute of invoice {number} resolved: {OUTCOME_WORDS[dispute.outcome]}",
                    dispute.outcome_note or "", dispute.resolved_by)


SOURCES = (_notes, _contacts, _calls, _promises, _payments, _audited, _fresh_links,
           _dispute_messages, _dispute_outcomes)


def load(session: Session, customer_id: int, before: datetime | None = None,
         limit: int = DEFAULT_LIMIT, locale: str = "en_US") -> Timeline:
    """The customer's newest ``limit`` entries before ``before`` (None: now); amounts are
    written in ``locale``."""
    merged = sorted((e for source in SOURCES
                     for e in source(session, customer_id, before, limit, locale)
                     if before is None or e.at < before),
                    key=lambda e: e.at, reverse=True)
    if len(merged) <= limit:
        return Timeline(merged, None)
    page = merged[:limit]
    # The next page starts strictly before the last moment shown: entries of that very
    # moment that did not fit are held back whole, so none is skipped between pages.
    cut = page[-1].at
    if merged[limit].at == cut and any(e.at != cut for e in page):
        page = [e for e in page if e.at != cut]
        cut = page[-1].at
    return Timeline(page, cut)

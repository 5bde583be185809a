"""What staff see of and do to a pay link: its state, and revoke, rotate, or pick the link to
email to the customer. Works on an invoice's link and on a customer's statement link alike.

Every action locks its target row first (two clerks rotating at once queue instead of one
tripping over the other's new link) and is audited in the same transaction, with the link's id
and state before and after: never the token, which would turn the audit log into a key ring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.invoicing.models import Customer, Invoice
from payments.links import tokens
from payments.links.models import PayLink
from payments.links.policy import LinkPolicy
from payments.staff import audit

STATES = ("live", "expired", "revoked", "none")
# An emailed link must still work when the customer gets round to opening it.
FRESH_FOR = timedelta(days=2)


class LinkError(ValueError):
    """A link action that cannot be done; the message is for the person who asked."""


@dataclass(frozen=True)
class Target:
    """An invoice's pay link (``kind`` "invoice") or a customer's statement link ("statement")."""

    kind: str
    id: int

    @property
    def where(self) -> dict[str, int]:
        """The keyword :mod:`payments.links.tokens` takes for this target."""
        return {"invoice_id" if self.kind == "invoice" else "customer_id": self.id}

    @property
    def audit_target(self) -> tuple[str, int]:
        """What the audit log files the action under: the invoice, or the customer."""
        return ("invoice", self.id) if self.kind == "invoice" else ("customer", self.id)

    def action(self, verb: str) -> str:
        """The audit action, e.g. ``invoice.link_rotate``, ``customer.statement_link_email``."""
        prefix = "invoice.link" if self.kind == "invoice" else "customer.statement_link"
        return f"{prefix}_{verb}"


@dataclass(frozen=True)
class LinkInfo:
    """A target's link as staff see it: ``state`` is one of :data:`STATES`; ``link`` is the
    current link, or the last revoked one; ``token`` is there only while the link is live."""

    state: str
    link: PayLink | None
    token: str | None

    def snapshot(self) -> dict[str, Any]:
        """The audit log's before/after: which link, in which state, until when."""
        link = self.link
        return {"link_id": link.id if link else None, "state": self.state,
                "expires_at": _iso(link.expires_at) if link else None}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def info(session: Session, key: tokens.LinkKey, target: Target,
         now: datetime | None = None) -> LinkInfo:
    """The target's link and its state (two indexed lookups at most)."""
    current = tokens.active(session, **target.where)
    if current is not None:
        if tokens.is_expired(current, now):
            return LinkInfo("expired", current, None)
        return LinkInfo("live", current, key.token(current.nonce))
    column = PayLink.invoice_id if target.kind == "invoice" else PayLink.customer_id
    last = session.scalar(select(PayLink).where(column == target.id)
                          .order_by(PayLink.id.desc()).limit(1))
    return LinkInfo("revoked", last, None) if last is not None else LinkInfo("none", None, None)


def _lock(session: Session, target: Target) -> Customer:
    """Lock the target row; return the customer (whose email a link goes to)."""
    if target.kind == "invoice":
        invoice = session.get(Invoice, target.id, with_for_update=True)
        if invoice is None:
            raise LinkError("There is no such invoice.")
        return invoice.customer
    customer = session.get(Customer, target.id, with_for_update=True)
    if customer is None:
        raise LinkError("There is no such customer.")
    return customer


def rotate(session: Session, actor: audit.Actor, policy: LinkPolicy, target: Target) -> LinkInfo:
    """Replace the target's link with a new one (the old one stops working at once); with no
    link, or a revoked one, this issues a fresh link. Audited."""
    _lock(session, target)
    before = info(session, policy.key, target)
    link, token = tokens.issue(session, policy.key, ttl=policy.ttl, **target.where)
    after = LinkInfo("live", link, token)
    audit.record(session, actor, target.action("rotate"), target.audit_target,
                 before.snapshot(), after.snapshot())
    return after


def revoke(session: Session, actor: audit.Actor, policy: LinkPolicy, target: Target) -> LinkInfo:
    """Revoke the target's link (live or expired) without issuing another. Audited."""
    _lock(session, target)
    before = info(session, policy.key, target)
    if before.state not in ("live", "expired"):
        raise LinkError("There is no link to revoke.")
    now = utcnow()
    tokens.revoke_active(session, now=now, **target.where)
    session.refresh(before.link)
    after = LinkInfo("revoked", before.link, None)
    audit.record(session, actor, target.action("revoke"), target.audit_target,
                 before.snapshot(), after.snapshot())
    return after


@dataclass(frozen=True)
class Outgoing:
    """A link to email: where to, the link, what it is for (invoice number or None), and the
    audit entry that records the sending (its id names the message in the outbox)."""

    to: str
    link: PayLink
    number: str | None
    issued: bool  # a new link was issued because the old one was not live
    audit_id: int


def _expiring(link: PayLink | None) -> bool:
    return link is not None and tokens.is_expired(link, utcnow() + FRESH_FOR)


def to_email(session: Session, actor: audit.Actor, policy: LinkPolicy,
             target: Target) -> Outgoing:
    """Pick the link to email to the customer's address on file: the live one, or a new one
    when it expired, was revoked, never existed, or would die within :data:`FRESH_FOR` of
    arriving (as the customer's own "email me a fresh link" does, and a little more). Audited
    as sent; the caller queues the email in the same transaction."""
    customer = _lock(session, target)
    if not customer.email:
        raise LinkError("No email address is on file for this customer. Add one in the ERP "
                        "(it reaches the portal with the next invoice), or copy the link.")
    before = info(session, policy.key, target)
    if before.token is not None and not _expiring(before.link):
        after, link, issued = before, before.link, False
    else:
        link, token = tokens.issue(session, policy.key, ttl=policy.ttl, **target.where)
        after, issued = LinkInfo("live", link, token), True
    number = session.get(Invoice, target.id).number if target.kind == "invoice" else None
    entry = audit.record(session, actor, target.action("email"), target.audit_target,
                         before.snapshot(), {**after.snapshot(), "to": customer.email,
                                             "issued_new_link": issued})
    return Outgoing(customer.email, link, number, issued, entry.id)

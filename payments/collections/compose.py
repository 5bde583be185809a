"""Writing a reminder: the customer's invoices due a step, each with its live link and PDF,
and the statement link, in the words of the strongest tone among the steps.

Links go in as marks (:func:`payments.outbox.outbox.link_mark`): the outbox puts the live URL
in at send time, so neither the outbox nor a contact's stored text ever holds a token. A link
that has expired, or would within :data:`payments.links.admin.FRESH_FOR`, is replaced first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections import templates
from payments.collections.planner import Person, Planned
from payments.db import among
from payments.invoicing.models import Invoice
from payments.links import tokens
from payments.links.admin import FRESH_FOR
from payments.links.models import PayLink
from payments.links.policy import LinkPolicy
from payments.money import format_money
from payments.outbox import outbox

KIND = "reminder"
STRENGTH = {"polite": 0, "partnership": 1, "firm": 2}
# RFC 3834: a program wrote this; autoresponders should not answer it.
AUTOMATIC = {"Auto-Submitted": "auto-generated"}
_MARK = re.compile(r"\{(?:link|pdf):\d+\}|\{pay-link\}")


@dataclass(frozen=True)
class Writer:
    """What every reminder needs: the business's name, the display locale, link issuing."""

    business: str
    links: LinkPolicy
    locale: str = "en_US"


@dataclass(frozen=True)
class Letter:
    """A written reminder: subject, text, HTML, and the links whose marks it carries."""

    subject: str
    text: str
    html: str
    link_ids: tuple[int, ...]


def live_link(session: Session, policy: LinkPolicy, *, invoice_id: int | None = None,
              customer_id: int | None = None) -> PayLink:
    """The target's live link, or a new one when it is missing, revoked or about to expire."""
    link = tokens.active(session, invoice_id=invoice_id, customer_id=customer_id)
    if link is None or tokens.is_expired(link, utcnow() + FRESH_FOR):
        link, _token = tokens.issue(session, policy.key, invoice_id=invoice_id,
                                    customer_id=customer_id, ttl=policy.ttl)
    return link


def live_links(session: Session, policy: LinkPolicy, invoice_ids: Sequence[int] = (),
               customer_ids: Sequence[int] = ()) -> tuple[dict[int, PayLink], dict[int, PayLink]]:
    """:func:`live_link` of several invoices and statements, with one query for each kind:
    (by invoice id, by customer id)."""
    soon = utcnow() + FRESH_FOR
    found: tuple[dict[int, PayLink], dict[int, PayLink]] = ({}, {})
    for target, column, ids in ((found[0], PayLink.invoice_id, invoice_ids),
                                (found[1], PayLink.customer_id, customer_ids)):
        if ids:
            for link in session.scalars(select(PayLink).where(among(session, column, ids),
                                                              PayLink.revoked_at.is_(None))):
                if not tokens.is_expired(link, soon):
                    target[link.invoice_id or link.customer_id] = link
    for invoice_id in set(invoice_ids) - set(found[0]):
        found[0][invoice_id] = live_link(session, policy, invoice_id=invoice_id)
    for customer_id in set(customer_ids) - set(found[1]):
        found[1][customer_id] = live_link(session, policy, customer_id=customer_id)
    return found


def write(writer: Writer, person: Person, invoices: Sequence[Invoice], acts: Sequence[Planned],
          today: date, words: Mapping[str, templates.Words], links: Mapping[int, PayLink],
          statement: PayLink, disputed: Mapping[int, int] | None = None) -> Letter:
    """The reminder for ``invoices`` (the ones whose steps ``acts`` are due), in the words
    of the strongest tone among the steps, with each invoice's ``links`` and the customer's
    ``statement`` link (from :func:`live_links`); an amount ``disputed`` (by invoice id) is
    left out of what the reminder asks for."""
    tone = max((a.step.tone for a in acts), key=STRENGTH.__getitem__)
    rows = [_row(invoice, links[invoice.id], writer, today, (disputed or {}).get(invoice.id, 0))
            for invoice in invoices]
    context = {"customer": person.name, "business": writer.business, "invoices": rows,
               "overdue": any(r["days_overdue"] > 0 for r in rows),
               "statement_url": outbox.link_mark(statement.id)}
    done = templates.render(words[tone], context)
    return Letter(done.subject, done.text, done.html,
                  (statement.id, *(links[invoice.id].id for invoice in invoices)))


def _row(invoice: Invoice, link: PayLink, writer: Writer, today: date, disputed: int) -> dict:
    late = (today - invoice.due_date).days
    asked = format_money(invoice.amount_due - disputed, invoice.currency, writer.locale)
    if disputed:
        asked += (f" ({format_money(disputed, invoice.currency, writer.locale)} in dispute "
                  "is left out while we look into it)")
    due = invoice.due_date.isoformat()
    when = (f"due {due} ({late} day{'s' * (late != 1)} ago)" if late > 0
            else f"due today, {due}" if late == 0 else f"due {due}")
    return {"number": invoice.number, "due_date": due, "due": when,
            "days_overdue": max(late, 0),
            "amount_due": asked,
            "pay_url": outbox.link_mark(link.id), "pdf_url": outbox.pdf_mark(link.id)}


def draft(key: str, person: Person, letter: Letter) -> outbox.Draft:
    """The outbox row of an emailed reminder."""
    return outbox.Draft(key=key, kind=KIND, to=", ".join(person.emails), subject=letter.subject,
                        body=letter.text, html=letter.html, links=letter.link_ids,
                        headers=dict(AUTOMATIC))


def readable(text: str | None) -> str:
    """Stored reminder text for staff to read, its link marks shown as "[link]"."""
    return _MARK.sub("[link]", text or "")

"""A fresh link for an expired one, sent to the address on file and never shown on the page.

The page says the same thing whether or not an address is on file and whether or not the mail
went out, so it reveals nothing about the customer.
"""

from __future__ import annotations

import secrets

from flask import current_app

from payments.invoicing.models import Customer, Invoice
from payments.links import tokens
from payments.links.models import PayLink
from payments.outbox import outbox
from portal import database, mail, tasks


def renew_invoice_link(invoice_id: int) -> None:
    """Issue a new link for the invoice (unless one is already live) and mail it."""
    with database.db().transaction() as session:
        invoice = session.get(Invoice, invoice_id, with_for_update=True)
        email_id = _queue(session, invoice.customer.email, invoice.number,
                          _live_or_new(session, invoice_id=invoice_id))
    tasks.enqueue_email(current_app, email_id)


def renew_statement_link(customer_id: int) -> None:
    """Issue a new statement link for the customer (unless one is already live) and mail it."""
    with database.db().transaction() as session:
        customer = session.get(Customer, customer_id, with_for_update=True)
        email_id = _queue(session, customer.email, None,
                          _live_or_new(session, customer_id=customer_id))
    tasks.enqueue_email(current_app, email_id)


def _live_or_new(session, **target) -> PayLink:
    # Two clicks on "email me a fresh link" must not kill the first fresh link with the second.
    policy = current_app.extensions["portal.links"]
    current = tokens.active(session, **target)
    if current is not None and not tokens.is_expired(current):
        return current
    link, _token = tokens.issue(session, policy.key, ttl=policy.ttl, **target)
    return link


def _queue(session, to: str | None, number: str | None, link: PayLink) -> int | None:
    # Each press is a message of its own (the customer asked again: mail again), so the key
    # is the link and a random part, not the link alone.
    if not to:
        return None
    key = f"fresh-link:{link.id}:{secrets.token_hex(8)}"
    return outbox.queue(session, mail.link_draft(key, "fresh_link", to, link, number,
                                                 "email/fresh_link.txt", automatic=True))

"""A fresh link for an expired one, sent to the address on file and never shown on the page.

The page says the same thing whether or not an address is on file and whether or not the mail
went out, so it reveals nothing about the customer.
"""

from __future__ import annotations

import smtplib

from flask import current_app, render_template

from payments.invoicing.models import Customer, Invoice
from payments.links import tokens
from portal import database, mail, urls


def renew_invoice_link(invoice_id: int) -> None:
    """Issue a new link for the invoice (unless one is already live) and mail it."""
    policy = current_app.extensions["portal.links"]
    with database.db().transaction() as session:
        invoice = session.get(Invoice, invoice_id, with_for_update=True)
        token = _live_or_new(session, policy, invoice_id=invoice_id)
        to, number = invoice.customer.email, invoice.number
        business = current_app.config["PORTAL_BUSINESS_NAME"]
    if to:
        _send(to, *link_mail("invoice", number, urls.pay_url(token), business))


def renew_statement_link(customer_id: int) -> None:
    """Issue a new statement link for the customer (unless one is already live) and mail it."""
    policy = current_app.extensions["portal.links"]
    with database.db().transaction() as session:
        customer = session.get(Customer, customer_id, with_for_update=True)
        token = _live_or_new(session, policy, customer_id=customer_id)
        to = customer.email
        business = current_app.config["PORTAL_BUSINESS_NAME"]
    if to:
        _send(to, *link_mail("statement", None, urls.statement_url(token), business))


def link_mail(kind: str, number: str | None, url: str, business: str,
              template: str = "email/fresh_link.txt") -> tuple[str, str]:
    """Subject and body of an email carrying an invoice or statement link (also used by the
    staff console, with its own template)."""
    body = render_template(template, kind=kind, number=number, url=url, business=business)
    if kind == "statement":
        return f"Your statement from {business}", body
    # The number comes from the ERP: a line break in it must not reach a mail header.
    return f"Your link to invoice {' '.join((number or '').split())}", body


def _live_or_new(session, policy, **target) -> str:
    # Two clicks on "email me a fresh link" must not kill the first fresh link with the second.
    current = tokens.active(session, **target)
    if current is not None and not tokens.is_expired(current):
        return policy.key.token(current.nonce)
    _link, token = tokens.issue(session, policy.key, ttl=policy.ttl, **target)
    return token


def _send(to: str, subject: str, body: str) -> None:
    # The customer sees the same page either way; the operator sees the failure in the log.
    try:
        mail.send(to, subject, body)
    except (smtplib.SMTPException, OSError):
        current_app.logger.exception("could not send a fresh pay link by email")

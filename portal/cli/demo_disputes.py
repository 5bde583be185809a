"""The demo's commercial dispute: Globex disputes the travel expenses on one invoice from its
invoice page (the form, its CSRF token, ``POST /i/<token>/dispute``, as a browser would), so
the staff console's Disputes queue has one to resolve. Once per database."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select

from payments.invoicing.models import Invoice
from payments.invoicing.upsert import upsert_invoice
from payments.links import tokens
from portal import database, urls
from portal.cli.demo_data import GLOBEX, invoice_payload

MESSAGE = ("The travel expenses were not part of our agreement: the statement of work says "
           "on-site days are included in the day rate.")


def seed_dispute(app: Flask) -> str | None:
    """Raise the demo's dispute (unless its invoice exists already: once per database); a
    line for the demo's output. Raises RuntimeError when the page refuses it."""
    payload = invoice_payload("DEMO-0990", "INV-0990", GLOBEX, "USD", -28, 2, [
        ("Consulting, August", 10, 15000), ("Travel expenses", 1, 84000)])
    policy = app.extensions["portal.links"]
    with app.app_context(), database.db().transaction() as session:
        if session.scalar(select(Invoice.id).where(Invoice.external_id == "DEMO-0990")):
            return None  # seeded by an earlier run: staff may have resolved it since
        invoice = upsert_invoice(session, payload, policy).invoice
        link = tokens.active(session, invoice_id=invoice.id)
        path = urlsplit(urls.pay_url(policy.key.token(link.nonce))).path
    browser = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      browser.get(path).get_data(as_text=True))
    response = browser.post(f"{path}/dispute", data={
        "csrf_token": token.group(1) if token else "", "reason": "pricing", "line": "2",
        "message": MESSAGE})
    if response.status_code != 303:
        raise RuntimeError(f"the demo's dispute was refused ({response.status_code})")
    return "INV-0990 (Globex Corporation): travel expenses disputed from the invoice page"

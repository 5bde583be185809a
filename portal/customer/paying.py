"""Orchestrating a payment for the customer pages: attempt first, then Stripe, then redirect.

No database lock is held while Stripe is called. The browser's (signed) session cookie remembers
which attempts it started, so coming back from Checkout leads to the right page without the pay
token ever being given to Stripe: success and cancel URLs carry only the attempt's reference.
"""

from __future__ import annotations

from flask import current_app, session

from payments.checkout import start as checkout
from payments.invoicing.amounts import Payable
from payments.invoicing.models import Invoice
from portal import database

REMEMBERED_ATTEMPTS = 20


def payable(row) -> Payable:
    """The pay rules' view of an invoice row (from the page queries or the ORM)."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k)
    return Payable(invoice_id=get("id"), number=get("number"), currency=get("currency"),
                   total=get("total"), amount_paid=get("amount_paid"),
                   amount_pending=get("amount_pending"), voided=get("voided_at") is not None,
                   allow_partial=get("allow_partial"),
                   min_partial_amount=get("min_partial_amount"))


def start(customer_id: int, currency: str, allocations: list[tuple[int, int]],
          back_to: str) -> str:
    """Record (or reuse) the attempt, open its Checkout Session, and return the URL to go to.

    ``back_to`` says where the customer returns: ``"i:<invoice id>"`` or ``"s:<customer id>"``.
    """
    db = database.db()
    gateway = current_app.extensions["portal.stripe"]

    def record(s):
        begun = checkout.begin(s, customer_id, currency, allocations)
        invoices = {inv.id: inv for inv in s.query(Invoice).filter(
            Invoice.id.in_([i for i, _ in allocations]))}
        labels = [(checkout.line_label(invoices[i], amt), amt) for i, amt in allocations]
        a = begun.attempt
        return a.reference, a.checkout_url, begun.superseded, labels

    reference, url, superseded, labels = db.run(record)
    _remember(reference, back_to)
    if url:
        return url  # a double click, a reload or a second tab: the same open session
    checkout.expire_superseded(db.writer, gateway, superseded)
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    request = checkout.SessionRequest(
        reference=reference, currency=currency, lines=labels,
        customer=checkout.stripe_customer(db.writer, gateway, customer_id),
        success_url=f"{base}/pay/{reference}/return", cancel_url=f"{base}/pay/{reference}/cancel",
        bank_transfers=bool(current_app.config.get("PORTAL_BANK_TRANSFERS")))
    created = checkout.open_session(gateway, request)
    with db.transaction() as s:
        checkout.remember_session(s, reference, created)
    return created["url"]


def _remember(reference: str, back_to: str) -> None:
    started = dict(session.get("attempts", {}))
    started[reference] = back_to
    session["attempts"] = dict(list(started.items())[-REMEMBERED_ATTEMPTS:])


def remembered(reference: str) -> str | None:
    """Where this browser should return to after paying ``reference``, if it started it."""
    return session.get("attempts", {}).get(reference)

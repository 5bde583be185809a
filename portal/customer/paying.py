"""Paying from the customer pages: the amount rules' view of an invoice, and starting Checkout.

The browser's (signed) session cookie remembers which attempts it started, so coming back from
Checkout leads to the right page without the pay token ever being given to Stripe: success and
cancel URLs carry only the attempt's reference.
"""

from __future__ import annotations

from flask import current_app, session

from payments.checkout import start as checkout
from payments.invoicing.amounts import Payable
from portal import database

REMEMBERED_ATTEMPTS = 20


def payable(row, disputed: int = 0) -> Payable:
    """The pay rules' view of an invoice row (from the page queries or the ORM), with the
    amount of it in an unresolved dispute."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k)
    return Payable(invoice_id=get("id"), number=get("number"), currency=get("currency"),
                   total=get("total"), amount_paid=get("amount_paid"),
                   amount_pending=get("amount_pending"), voided=get("voided_at") is not None,
                   allow_partial=get("allow_partial"),
                   min_partial_amount=get("min_partial_amount"), disputed=disputed)


def start(customer_id: int, currency: str, allocations: list[tuple[int, int]],
          back_to: str) -> str:
    """Start paying (:func:`payments.checkout.start.start_checkout`) and return the URL to go to;
    this browser remembers where it returns: ``"i:<invoice id>"`` or ``"s:<customer id>"``."""
    started = checkout.start_checkout(
        database.db(), current_app.extensions["portal.stripe"], customer_id, currency,
        allocations, current_app.config["PORTAL_BASE_URL"],
        bank_transfers=bool(current_app.config.get("PORTAL_BANK_TRANSFERS")))
    _remember(started.reference, back_to)
    return started.url


def _remember(reference: str, back_to: str) -> None:
    started = dict(session.get("attempts", {}))
    started[reference] = back_to
    session["attempts"] = dict(list(started.items())[-REMEMBERED_ATTEMPTS:])


def remembered(reference: str) -> str | None:
    """Where this browser should return to after paying ``reference``, if it started it."""
    return session.get("attempts", {}).get(reference)

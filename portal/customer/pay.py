"""Paying: ``POST /i/<token>/pay``, ``POST /s/<token>/pay``, the way back from Checkout, and
``/i/<token>/return`` (what really happened, in plain words)."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request

from payments.disputes import reads
from payments.invoicing.amounts import AmountError, check_amount, check_together, parse_amount
from payments.links import customer_pages
from payments.stripe.errors import StripeError
from portal import database
from portal.customer import bp, paying
from portal.customer.common import resolved_link, today, token_lookup
from portal.customer.invoice import render_page
from portal.customer.statement import render_statement


def _gateway():
    gateway = current_app.extensions.get("portal.stripe")
    if gateway is None:
        abort(404)  # payments are not configured: there is no pay button either
    return gateway


@bp.post("/i/<token>/pay")
@token_lookup
def invoice_pay(token: str):
    """Pay this invoice in full or, where allowed, in part (with a dispute open, the
    undisputed rest); 303 to Stripe Checkout."""
    _gateway()
    row = resolved_link("invoice", token)
    disputed = reads.active_amounts(database.session(), [row["id"]]).get(row["id"], 0)
    inv = paying.payable(row, disputed)
    try:
        typed = request.form.get("amount", "") if request.form.get("choice") == "other" else None
        amount = check_amount(inv, None if typed is None else parse_amount(typed, inv.currency),
                              current_app.config["PORTAL_LOCALE"])
    except AmountError as exc:
        view = customer_pages.invoice_view(database.session(), row, today())
        return render_page(token, view, 422, pay_error=str(exc),
                           typed=request.form.get("amount", ""))
    return _go(row["customer_id"], inv.currency, [(inv.invoice_id, amount)], f"i:{row['id']}")


@bp.post("/s/<token>/pay")
@token_lookup
def statement_pay(token: str):
    """Pay the chosen open invoices of a statement, each in full, in one Checkout."""
    _gateway()
    row = resolved_link("statement", token)
    chosen = {int(v) for v in request.form.getlist("invoice") if v.isascii() and v.isdigit()}
    key = current_app.extensions["portal.links"].key
    view = customer_pages.statement_view(database.session(), row, key, today())
    picked = [line.invoice for line in view.lines if line.invoice.id in chosen]
    disputed = reads.active_amounts(database.session(), [inv.id for inv in picked])
    try:
        if not picked:
            raise AmountError("Choose at least one invoice to pay")
        invoices = [paying.payable(inv.row, disputed.get(inv.id, 0)) for inv in picked]
        amounts = [check_amount(inv, None) for inv in invoices]
        check_together(invoices, amounts)
    except AmountError as exc:
        return render_statement(token, view, 422, pay_error=str(exc))
    allocations = [(inv.invoice_id, amt) for inv, amt in zip(invoices, amounts, strict=True)]
    return _go(row["customer_id"], invoices[0].currency, allocations, f"s:{row['customer_id']}")


def _go(customer_id: int, currency: str, allocations, back_to: str):
    try:
        url = paying.start(customer_id, currency, allocations, back_to)
    except StripeError:
        current_app.logger.exception("could not open a Stripe Checkout Session")
        return render_template("pay_unavailable.html"), 502
    return redirect(url, 303)

"""Back from Stripe Checkout: ``/pay/<reference>/return|cancel`` lead to ``/i/<token>/return``
(or ``/s/<token>/return``), which says what really happened."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from payments.checkout.models import PaymentAttempt
from payments.events import outcome
from payments.links import tokens
from payments.stripe.errors import StripeError
from portal import database
from portal.customer import bp, paying
from portal.customer.common import resolved_link, today, token_lookup


def _attempt(reference: str | None) -> PaymentAttempt:
    attempt = database.session().scalar(
        select(PaymentAttempt).where(PaymentAttempt.reference == (reference or "")))
    if attempt is None:
        abort(404)
    return attempt


def _page_token(back_to: str | None) -> tuple[str, str] | None:
    """``("i", token)`` or ``("s", token)`` for where this browser started paying, if still live."""
    if not back_to:
        return None
    kind, _, ident = back_to.partition(":")
    target = {"invoice_id": int(ident)} if kind == "i" else {"customer_id": int(ident)}
    link = tokens.active(database.session(), **target)
    if link is None or tokens.is_expired(link):
        return None
    return kind, current_app.extensions["portal.links"].key.token(link.nonce)


@bp.get("/pay/<reference>/return")
@token_lookup
def back_from_checkout(reference: str):
    """Stripe's success URL: fetch the session through the pipeline, then show the result."""
    attempt = _attempt(reference)
    gateway = current_app.extensions["portal.stripe"]
    try:
        outcome.refresh(database.db(), gateway, reference)
    except StripeError:
        current_app.logger.warning("could not fetch a Checkout Session; the webhook will tell")
    if (page := _page_token(paying.remembered(reference))) is not None:
        endpoint = "customer.invoice_return" if page[0] == "i" else "customer.statement_return"
        return redirect(url_for(endpoint, token=page[1], attempt=reference), 303)
    database.session().expire_all()
    return render_template("pay_result.html", result=outcome.result(database.session(), gateway,
                                                                    attempt), back=None)


@bp.get("/pay/<reference>/cancel")
@token_lookup
def cancel_from_checkout(reference: str):
    """Stripe's cancel URL: back to the page the customer came from, nothing charged."""
    _attempt(reference)
    if (page := _page_token(paying.remembered(reference))) is not None:
        endpoint = "customer.invoice_page" if page[0] == "i" else "customer.statement_page"
        return redirect(url_for(endpoint, token=page[1], canceled=1), 303)
    return render_template("pay_result.html", result=None, back=None)


@bp.get("/i/<token>/return")
@token_lookup
def invoice_return(token: str):
    """What happened to the payment of this invoice, in plain words."""
    row = resolved_link("invoice", token)
    attempt = _attempt(request.args.get("attempt"))
    if not any(a.invoice_id == row["id"] for a in attempt.allocations):
        abort(404)
    return _result_page(attempt, url_for("customer.invoice_page", token=token))


@bp.get("/s/<token>/return")
@token_lookup
def statement_return(token: str):
    """What happened to the payment of several invoices from this statement."""
    row = resolved_link("statement", token)
    attempt = _attempt(request.args.get("attempt"))
    if attempt.customer_id != row["customer_id"]:
        abort(404)
    return _result_page(attempt, url_for("customer.statement_page", token=token))


def _result_page(attempt: PaymentAttempt, back: str):
    try:
        result = outcome.result(database.session(), current_app.extensions.get("portal.stripe"),
                                attempt)
    except StripeError:
        result = outcome.Result("open", attempt.amount, attempt.currency)
    return render_template("pay_result.html", result=result, back=back, today=today())

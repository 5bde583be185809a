"""``/s/<token>``: every open invoice of one customer, with totals, aging and a PDF."""

from __future__ import annotations

from flask import current_app, render_template

from payments.links import customer_pages, tokens
from portal import database, pdf, urls
from portal.customer import bp
from portal.customer.common import check, pdf_response, renew_limit, today, token_lookup
from portal.customer.renew import renew_statement_link


def _statement(token: str):
    state, row = customer_pages.resolve_statement(database.session(), token)
    stop = check(state, "expired.html", kind="statement", token=token)
    if stop is not None:
        return stop, None
    key = current_app.extensions["portal.links"].key
    return None, customer_pages.statement_view(database.session(), row, key, today())


@bp.get("/s/<token>")
@token_lookup
def statement_page(token: str):
    """The statement: open invoices oldest first, totals per currency, aging buckets."""
    stop, view = _statement(token)
    if stop is not None:
        return stop
    return render_template("statement.html", st=view, token=token,
                           buckets=customer_pages.AGING_BUCKETS, pay_url=urls.pay_url)


@bp.get("/s/<token>/pdf")
@token_lookup
def statement_pdf(token: str):
    """The statement as a PDF, with its link and QR code."""
    stop, view = _statement(token)
    if stop is not None:
        return stop
    data = pdf.statement_pdf(view, urls.statement_url(token), today())
    return pdf_response(data, f"statement-{view.customer['customer_name']}-{today()}")


@bp.post("/s/<token>/renew")
@token_lookup
@renew_limit
def statement_renew(token: str):
    """Email a fresh statement link to the address on file, for an expired link only."""
    state, row = customer_pages.resolve_statement(database.session(), token)
    if state is customer_pages.LinkState.NOT_FOUND:
        renewed = tokens.renewed_since_expiry(database.session(), token, "statement")
        if renewed is None:
            return check(state, "expired.html")
        renew_statement_link(renewed.customer_id)  # pressed again: mail the fresh link again
        return render_template("renewed.html", expired=True)
    if state is customer_pages.LinkState.EXPIRED:
        renew_statement_link(row["customer_id"])
    return render_template("renewed.html", expired=state is customer_pages.LinkState.EXPIRED)

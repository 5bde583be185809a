"""``/s/<token>``: every open invoice of one customer, with totals, aging and a PDF."""

from __future__ import annotations

from flask import abort, render_template

from payments.links import customer_pages, tokens
from portal import database, pdf, urls
from portal.customer import bp
from portal.customer.common import pdf_response, renew_limit, resolved_link, today, token_lookup
from portal.customer.renew import renew_statement_link


@bp.get("/s/<token>")
@token_lookup
def statement_page(token: str):
    """The statement: open invoices oldest first, totals per currency, aging buckets."""
    view = resolved_link("statement", token, view=True)
    return render_template("statement.html", st=view, token=token,
                           buckets=customer_pages.AGING_BUCKETS, pay_url=urls.pay_url)


@bp.get("/s/<token>/pdf")
@token_lookup
def statement_pdf(token: str):
    """The statement as a PDF, with its link and QR code."""
    view = resolved_link("statement", token, view=True)
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
            abort(404)
        renew_statement_link(renewed.customer_id)  # pressed again: mail the fresh link again
        return render_template("renewed.html", expired=True)
    if state is customer_pages.LinkState.EXPIRED:
        renew_statement_link(row["customer_id"])
    return render_template("renewed.html", expired=state is customer_pages.LinkState.EXPIRED)

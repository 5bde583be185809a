"""``/s/<token>``: every open invoice of one customer, with totals, aging and a PDF."""

from __future__ import annotations

from flask import abort, render_template

from payments.disputes import reads
from payments.links import customer_pages, tokens
from portal import database, pdf, urls
from portal.customer import bp
from portal.customer.common import pdf_response, renew_limit, resolved_link, today, token_lookup
from portal.customer.renew import renew_statement_link


def render_statement(token: str, view, status: int = 200, **extra):
    """The statement page for a resolved ``view``, with the amounts its invoices have in
    dispute (one query for them all); ``extra`` carries the pay form's error."""
    disputed = reads.active_amounts(database.session(), [ln.invoice.id for ln in view.lines])
    return render_template("statement.html", st=view, token=token, disputed=disputed,
                           buckets=customer_pages.AGING_BUCKETS, pay_url=urls.pay_url,
                           **extra), status


@bp.get("/s/<token>")
@token_lookup
def statement_page(token: str):
    """The statement: open invoices oldest first, totals per currency, aging buckets."""
    return render_statement(token, resolved_link("statement", token, view=True))


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

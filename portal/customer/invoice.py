"""``/i/<token>``: the invoice page, its PDF, its QR code, and a fresh link when it expired."""

from __future__ import annotations

import io

import segno
from flask import Response, abort, render_template

from payments.disputes import reads
from payments.disputes.models import REASONS
from payments.links import customer_pages, tokens
from portal import database, pdf, urls
from portal.customer import bp
from portal.customer.common import pdf_response, renew_limit, resolved_link, token_lookup
from portal.customer.renew import renew_invoice_link


def render_page(token: str, view, status: int = 200, **extra):
    """The invoice page for a resolved ``view``, with its disputes (one more indexed query,
    and a few when there are any); ``extra`` carries a form's errors and typed values."""
    session = database.session()
    threads = reads.for_invoice(session, view.id)
    disputed = next((t.dispute.amount for t in threads if t.dispute.active), 0)
    # Credits and adjustments come with disputes; "paid" then shows the money alone.
    credited = reads.credited(session, view.id) if threads else 0
    return render_template("invoice.html", inv=view, token=token, pay_url=urls.pay_url(token),
                           threads=threads, disputed=disputed, credited=credited,
                           reasons=REASONS, **extra), status


@bp.get("/i/<token>")
@token_lookup
def invoice_page(token: str):
    """The invoice as the customer sees it."""
    return render_page(token, resolved_link("invoice", token, view=True))


@bp.get("/i/<token>/pdf")
@token_lookup
def invoice_pdf(token: str):
    """The invoice PDF, rendered once per revision and then served from the cache."""
    view = resolved_link("invoice", token, view=True)
    credited = reads.credited(database.session(), view.id)
    return pdf_response(pdf.invoice_pdf(view, urls.pay_url(token), credited),
                        f"invoice-{view.number}")


@bp.get("/i/<token>/qr.svg")
@token_lookup
def invoice_qr(token: str):
    """A QR code of the pay URL, for ERP and email templates."""
    resolved_link("invoice", token)
    buf = io.BytesIO()
    segno.make(urls.pay_url(token), error="m").save(
        buf, kind="svg", scale=4, border=2, xmldecl=False, title="Pay this invoice"
    )
    return Response(buf.getvalue(), mimetype="image/svg+xml")


@bp.post("/i/<token>/renew")
@token_lookup
@renew_limit
def invoice_renew(token: str):
    """Email a fresh link to the address on file, for an expired link only."""
    state, row = customer_pages.resolve_invoice(database.session(), token)
    if state is customer_pages.LinkState.NOT_FOUND:
        renewed = tokens.renewed_since_expiry(database.session(), token, "invoice")
        if renewed is None:
            abort(404)
        renew_invoice_link(renewed.invoice_id)  # pressed again: mail the fresh link again
        return render_template("renewed.html", expired=True)
    if state is customer_pages.LinkState.EXPIRED:
        renew_invoice_link(row["id"])
    return render_template("renewed.html", expired=state is customer_pages.LinkState.EXPIRED)

"""``/staff/invoices``: find an invoice, and see everything about it on one page: lines,
ledger, payments, Stripe events, exceptions, disputes and credit notes, the customer's latest
notes, and its pay link (state, copy; clerks revoke, rotate, or email it to the customer)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, current_app, render_template, request, url_for

from payments.collections.models import InvoiceChase
from payments.console import invoice_page, lists
from payments.disputes import reads as dispute_reads
from payments.invoicing.models import Customer
from payments.links import admin
from payments.outbox import outbox
from portal import database
from portal.staff import bp, paylinks
from portal.staff.roles import require_role
from portal.urls import MAX_ROW_ID


def today():
    """Today's date in UTC, as the dashboard counts days."""
    return datetime.now(UTC).date()


PAGE_SIZE = lists.PAGE_SIZE


def int_arg(name: str) -> int | None:
    """A row id from the query string, or None (malformed ones are ignored, not errors).
    ASCII digits only: ``"²".isdigit()`` is true, but ``int("²")`` raises."""
    raw = request.args.get(name, "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        return None
    return int(raw) if int(raw) <= MAX_ROW_ID else None


@bp.get("/invoices")
@require_role("viewer")
def invoices():
    """Invoices newest first: search by number, external id or customer; filter by status."""
    q, status = request.args.get("q", "").strip(), request.args.get("status", "")
    status = status if status in lists.LIST_STATUSES else ""
    customer_id, cursor = int_arg("customer"), int_arg("cursor")
    page = lists.invoices(database.session(), today(), q, status or None, customer_id,
                                cursor, PAGE_SIZE)
    customer = database.session().get(Customer, customer_id) if customer_id else None
    args = {k: v for k, v in (("q", q), ("status", status), ("customer", customer_id)) if v}
    return render_template("staff/invoices.html", page=page, q=q, status=status,
                           statuses=lists.LIST_STATUSES, customer=customer, args=args,
                           first=cursor is None)


@bp.get("/invoices/<id:invoice_id>")
@require_role("viewer")
def invoice(invoice_id: int, error: str | None = None, status: int = 200):
    """Everything about one invoice."""
    policy = current_app.extensions["portal.links"]
    detail = invoice_page.load(database.session(), invoice_id, policy.key,
                                 today())
    if detail is None:
        abort(404)
    link = detail.link
    target = admin.Target("invoice", invoice_id)
    tx = database.session()
    return render_template(
        "staff/invoice.html", d=detail, inv=detail.invoice, error=error,
        link_url=paylinks.url_of(target, link.token) if link.token else None,
        last_email=outbox.latest(tx, invoice_id=invoice_id),
        exception_url=_exception_url(), chase=tx.get(InvoiceChase, invoice_id),
        disputes=[t.dispute for t in dispute_reads.for_invoice(tx, invoice_id)],
        credit_notes=dispute_reads.credit_notes(tx, invoice_id)), status


def _exception_url():
    # The exceptions queue has its own page in builds that include it; else ids are plain text.
    if "staff.exception" not in current_app.view_functions:
        return None
    return lambda exception_id: url_for("staff.exception", exception_id=exception_id)


def _link_action(invoice_id: int, verb: str):
    def again(error: str, status: int):
        return invoice(invoice_id, error, status)

    return paylinks.act(admin.Target("invoice", invoice_id), verb,
                        url_for("staff.invoice", invoice_id=invoice_id), again)


@bp.post("/invoices/<id:invoice_id>/link/rotate")
@require_role("clerk")
def rotate_invoice_link(invoice_id: int):
    """Issue a new pay link; the old one stops working at once (audited)."""
    return _link_action(invoice_id, "rotate")


@bp.post("/invoices/<id:invoice_id>/link/revoke")
@require_role("clerk")
def revoke_invoice_link(invoice_id: int):
    """Revoke the pay link without a replacement (audited)."""
    return _link_action(invoice_id, "revoke")


@bp.post("/invoices/<id:invoice_id>/link/email")
@require_role("clerk")
def email_invoice_link(invoice_id: int):
    """Email the live link (or a new one) to the customer's address on file (audited)."""
    return _link_action(invoice_id, "email")

"""Collections settings from the console (clerks): a customer's chasing settings and contact
windows, and "do not chase" on one invoice. The customer page shows them (see
:mod:`portal.staff.customers`); bad input is sent back with a message per field, and nothing
is written."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from payments.collections import profiles
from portal import database
from portal.staff import bp, customers, invoices, session
from portal.staff.roles import require_role


def _back(customer_id: int, anchor: str = "collections"):
    return redirect(url_for("staff.customer", customer_id=customer_id, _anchor=anchor), 303)


@bp.post("/customers/<id:customer_id>/collections")
@require_role("clerk")
def save_collections(customer_id: int):
    """Save how the customer is chased (audited)."""
    form = {**request.form.to_dict(),
            # One checkbox per weekday, ISO numbers: "1", "2", … joined as "12345".
            "business_days": "".join(request.form.getlist("business_days"))}
    form.pop("csrf_token", None)
    try:
        with database.db().transaction() as tx:
            profiles.save(tx, session.actor(), customer_id, form)
    except profiles.ProfileError as exc:
        return customers.customer(customer_id, str(exc), 422, fields=exc.fields, typed=form)
    flash("The collections settings were saved.", "notice")
    return _back(customer_id)


@bp.post("/customers/<id:customer_id>/windows")
@require_role("clerk")
def add_contact_window(customer_id: int):
    """Add days not to contact the customer (audited)."""
    form = request.form
    try:
        with database.db().transaction() as tx:
            profiles.add_window(tx, session.actor(), customer_id, form.get("kind", ""),
                                form.get("start", ""), form.get("end", ""), form.get("label"))
    except profiles.ProfileError as exc:
        return customers.customer(customer_id, str(exc), 422,
                                  fields={"window": str(exc), **exc.fields})
    flash("The contact window was added.", "notice")
    return _back(customer_id, "windows")


@bp.post("/customers/<id:customer_id>/windows/<id:window_id>/delete")
@require_role("clerk")
def remove_contact_window(customer_id: int, window_id: int):
    """Remove one of the customer's contact windows (audited)."""
    try:
        with database.db().transaction() as tx:
            profiles.remove_window(tx, session.actor(), customer_id, window_id)
    except profiles.ProfileError as exc:
        return customers.customer(customer_id, str(exc), 404)
    flash("The contact window was removed.", "notice")
    return _back(customer_id, "windows")


@bp.post("/invoices/<id:invoice_id>/chase-hold")
@require_role("clerk")
def invoice_chase_hold(invoice_id: int):
    """Stop or resume reminders for this one invoice (audited)."""
    choice = request.form.get("hold")
    if choice not in ("0", "1"):
        return invoices.invoice(invoice_id, "Choose to stop or to resume reminders.", 422)
    hold = choice == "1"
    try:
        with database.db().transaction() as tx:
            profiles.set_invoice_hold(tx, session.actor(), invoice_id, hold)
    except profiles.ProfileError as exc:
        return invoices.invoice(invoice_id, str(exc), 404)
    flash("Reminders for this invoice are stopped." if hold
          else "Reminders for this invoice are back on.", "notice")
    return redirect(url_for("staff.invoice", invoice_id=invoice_id, _anchor="chase"), 303)

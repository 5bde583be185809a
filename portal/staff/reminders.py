"""``/staff/reminders``: the reminder policies and the words of each tone (admins edit them,
everyone reads them), the preview of every contact the next days would bring, and the letter
PDFs of letter tasks."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from payments.clock import utcnow
from payments.collections import policy, preview, templates
from payments.collections.log_models import Contact
from payments.collections.models import CHANNELS, TONES
from payments.invoicing.models import Customer
from payments.links.models import PayLink
from payments.outbox import outbox
from portal import database, mail, pdf, reminders
from portal.staff import bp, session
from portal.staff.invoices import int_arg
from portal.staff.roles import require_role

BLANK_ROWS = 3
PREVIEW_LIMIT = 500


@bp.get("/reminders")
@require_role("viewer")
def reminders_page(errors: dict | None = None, status: int = 200):
    """The policies with their steps, and the templates of each tone."""
    tx = database.session()
    book = policy.book(tx)
    return render_template(
        "staff/reminders.html", book=book, builtin=policy.DEFAULT_STEPS,
        words={tone: templates.words(tx, tone) for tone in TONES}, tones=TONES,
        channels=CHANNELS, blank_rows=BLANK_ROWS, errors=errors or {},
        stale_days=current_app.config["PORTAL_REMINDER_STALE_DAYS"],
        enabled=current_app.config["PORTAL_REMINDERS"]), status


@bp.post("/reminders/policies")
@require_role("admin")
def save_policy():
    """Create or replace a policy (its name, default flag and steps); audited."""
    form = request.form
    policy_id = int(form["policy_id"]) if form.get("policy_id", "").isdigit() else None
    rows = [(form.get(f"offset-{n}", ""), form.get(f"channel-{n}", ""),
             form.get(f"tone-{n}", "polite")) for n in range(policy.MAX_STEPS + BLANK_ROWS)]
    try:
        steps = policy.parse_steps(rows)
        with database.db().transaction() as tx:
            saved = policy.save(tx, session.actor(), policy_id, form.get("name", ""), steps,
                                is_default=form.get("is_default") == "on")
            name = saved.name
    except policy.PolicyError as exc:
        return reminders_page({"policy": policy_id or "new", "message": str(exc),
                               "fields": exc.fields}, 422)
    flash(f"The policy “{name}” was saved.", "notice")
    return redirect(url_for("staff.reminders_page"), 303)


@bp.post("/reminders/templates/<tone>")
@require_role("admin")
def save_template(tone: str):
    """Store staff's words for a tone, or go back to the built-in ones; audited."""
    if tone not in TONES:
        abort(404)
    form = request.form
    try:
        with database.db().transaction() as tx:
            if form.get("action") == "reset":
                templates.reset(tx, session.actor(), tone)
            else:
                templates.save(tx, session.actor(), tone, form.get("subject", ""),
                               form.get("text", ""), form.get("html", ""))
    except templates.TemplateProblem as exc:
        return reminders_page({"tone": tone, "message": str(exc), "fields": exc.fields,
                               "draft": dict(form)}, 422)
    flash(f"The {tone} reminder was saved.", "notice")
    return redirect(url_for("staff.reminders_page", _anchor=f"tone-{tone}"), 303)


@bp.get("/reminders/preview")
@require_role("viewer")
def reminders_preview():
    """Every contact the next days would bring (``days``, 1–60; ``customer`` to narrow)."""
    days = min(max(int_arg("days") or 14, 1), 60)
    customer_id = int_arg("customer")
    tx = database.session()
    customer = tx.get(Customer, customer_id) if customer_id else None
    found = preview.upcoming(tx, reminders.settings(current_app), utcnow(), days,
                             customer_id if customer else None, PREVIEW_LIMIT + 1)
    return render_template("staff/reminders_preview.html", contacts=found[:PREVIEW_LIMIT],
                           truncated=len(found) > PREVIEW_LIMIT, days=days, customer=customer,
                           until=utcnow() + timedelta(days=days))


@bp.get("/contacts/<id:contact_id>/letter.pdf")
@require_role("viewer")
def contact_letter(contact_id: int):
    """The letter of a letter task, to print and mail, with the links live today."""
    tx = database.session()
    contact = tx.get(Contact, contact_id)
    if contact is None or contact.channel != "letter" or contact.body is None:
        abort(404)
    links = {link_id: outbox.live(tx.get(PayLink, link_id), utcnow())
             for link_id in outbox.marked(contact.body)}
    text = outbox.fill_marks(contact.body, links, mail.link_url,
                             dead="(this link has expired: ask us for a new one)")
    html = render_template("pdf/letter.html", contact=contact,
                           customer=tx.get(Customer, contact.customer_id), text=text)
    response = current_app.response_class(pdf.render_pdf(html), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="letter-{contact_id}.pdf"'
    return response


"""``/staff/customers``: find a customer, and see their open invoices, payments, paying habits,
statement link, the notes every colleague who contacts them shares (clerks add notes), and
collections: what was learned of their paying, the trend, the settings (clerks change them in
:mod:`portal.staff.collections`) and the one timeline of every contact."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from payments.clock import utcnow
from payments.collections import preview, profiles, promises, timeline, timing, trends, windows
from payments.collections.models import CollectionProfile
from payments.console import customer_page, lists, notes
from payments.links import admin
from payments.outbox import outbox
from portal import database, reminders
from portal.staff import bp, paylinks, session
from portal.staff.invoices import int_arg, today
from portal.staff.roles import require_role

PAGE_SIZE = lists.PAGE_SIZE
UPCOMING_DAYS, UPCOMING_SHOWN = 45, 10


@bp.get("/customers")
@require_role("viewer")
def customers():
    """Customers by name: search by name, external id or email."""
    q, cursor = request.args.get("q", "").strip(), int_arg("cursor")
    page = lists.customers(database.session(), q, cursor, PAGE_SIZE)
    return render_template("staff/customers.html", page=page, q=q,
                           args={"q": q} if q else {}, first=cursor is None)


@bp.get("/customers/<id:customer_id>")
@require_role("viewer")
def customer(customer_id: int, error: str | None = None, status: int = 200,
             draft: str = "", fields: dict[str, str] | None = None, typed: dict | None = None):
    """Everything about one customer; ``notes`` pages to older notes, ``before`` to older
    timeline entries. ``fields``/``typed``: a collections form sent back with its errors."""
    policy = current_app.extensions["portal.links"]
    detail = customer_page.load(database.session(), customer_id, policy.key,
                                  today(), int_arg("notes"))
    if detail is None:
        abort(404)
    link = detail.statement
    target = admin.Target("statement", customer_id)
    return render_template(
        "staff/customer.html", d=detail, c=detail.customer, error=error, draft=draft,
        max_note=notes.MAX_LENGTH, definitions=_definitions(),
        link_url=paylinks.url_of(target, link.token) if link.token else None,
        last_email=outbox.latest(database.session(), customer_id=customer_id),
        **_collections(customer_id, fields or {}, typed),
    ), status


def _collections(customer_id: int, fields: dict[str, str], typed: dict | None) -> dict:
    """The page's collections section: settings (as typed, when sent back), what was
    learned, the trend, and the timeline."""
    db_session = database.session()
    view = profiles.view(db_session, customer_id)
    profile = view.profile or CollectionProfile(
        customer_id=customer_id, do_not_chase=False, learn_timing=True, hours_start=9,
        hours_end=17, business_days="12345")
    saved = {name: getattr(profile, name) for name in profiles.Settings.__dataclass_fields__}
    return {"cx": view, "profile": profile, "form": typed or saved, "fields": fields,
            "learned": timing.Learned.from_json(profile.learned),
            "trend": trends.Trend.from_json(profile.trend),
            "default_zone": current_app.config.get("PORTAL_TIMEZONE", "UTC"),
            "weekdays": windows.WEEKDAYS,
            "timeline": timeline.load(db_session, customer_id, _before_arg(),
                                      locale=current_app.config["PORTAL_LOCALE"]),
            # Every scheduled contact says why it is scheduled (the planner's own words).
            "upcoming": preview.upcoming(db_session, reminders.settings(current_app), utcnow(),
                                         UPCOMING_DAYS, customer_id, limit=UPCOMING_SHOWN),
            "open_promises": promises.active(db_session, customer_id, today())}


def _before_arg() -> datetime | None:
    # The timeline's cursor: a moment; a malformed one shows the newest entries instead.
    try:
        moment = datetime.fromisoformat(request.args.get("before", ""))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _definitions() -> dict[str, str]:
    return {"paid": customer_page.PAID_DATE_DEFINITION,
            "to_pay": customer_page.DAYS_TO_PAY_DEFINITION,
            "late": customer_page.DAYS_LATE_DEFINITION}


@bp.post("/customers/<id:customer_id>/notes")
@require_role("clerk")
def add_customer_note(customer_id: int):
    """Append a note to the customer, signed with the current user (audited)."""
    body = request.form.get("body", "")
    try:
        with database.db().transaction() as tx:
            notes.add(tx, session.actor(), customer_id, body)
    except notes.NoteError as exc:
        # Keep what was typed (cut to a sane size) so a too-long note is not lost.
        return customer(customer_id, str(exc), 422, body[:notes.MAX_LENGTH * 2])
    flash("Your note was added.", "notice")
    return redirect(url_for("staff.customer", customer_id=customer_id, _anchor="notes"), 303)


def _link_action(customer_id: int, verb: str):
    def again(error: str, status: int):
        return customer(customer_id, error, status)

    return paylinks.act(admin.Target("statement", customer_id), verb,
                        url_for("staff.customer", customer_id=customer_id), again)


@bp.post("/customers/<id:customer_id>/statement-link/rotate")
@require_role("clerk")
def rotate_statement_link(customer_id: int):
    """Issue a new statement link; the old one stops working at once (audited)."""
    return _link_action(customer_id, "rotate")


@bp.post("/customers/<id:customer_id>/statement-link/revoke")
@require_role("clerk")
def revoke_statement_link(customer_id: int):
    """Revoke the statement link without a replacement (audited)."""
    return _link_action(customer_id, "revoke")


@bp.post("/customers/<id:customer_id>/statement-link/email")
@require_role("clerk")
def email_statement_link(customer_id: int):
    """Email the live statement link (or a new one) to the customer (audited)."""
    return _link_action(customer_id, "email")

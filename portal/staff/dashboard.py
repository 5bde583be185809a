"""``/staff/``: open balances and aging, payments to confirm, exceptions to resolve.

Everyone with a role reads it; clerks and admins confirm and resolve from it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import redirect, render_template, request, url_for

from payments import console
from portal import database
from portal.staff import bp, session
from portal.staff.roles import require_role


@bp.get("/")
@require_role("viewer")
def dashboard(error: str | None = None, status: int = 200):
    """The overview every staff member starts from."""
    view = console.overview(database.session(), datetime.now(UTC).date())
    return render_template("staff/dashboard.html", view=view, error=error), status


@bp.post("/payments/<int:payment_id>/confirm")
@require_role("clerk")
def confirm_payment(payment_id: int):
    """Confirm a succeeded payment (audited)."""
    try:
        with database.db().transaction() as tx:
            console.confirm_payment(tx, session.actor(), payment_id)
    except console.ConsoleError as exc:
        return dashboard(str(exc), 422)
    return redirect(url_for("staff.dashboard"), 303)


@bp.post("/exceptions/<int:exception_id>/resolve")
@require_role("clerk")
def resolve_exception(exception_id: int):
    """Resolve an exception with a note (audited)."""
    try:
        with database.db().transaction() as tx:
            console.resolve_exception(tx, session.actor(), exception_id,
                                      request.form.get("resolution", ""))
    except console.ConsoleError as exc:
        return dashboard(str(exc), 422)
    return redirect(url_for("staff.dashboard"), 303)

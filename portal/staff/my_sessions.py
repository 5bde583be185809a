"""``/staff/sessions``: one's own signed-in sessions (when they began, when last used, from
which address and browser), each with "end this session", and "sign out everywhere".

Everyone with a role sees and ends only their own; ending another browser's session is
audited and takes effect on that browser's next request.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from payments.staff import audit, sessions
from portal import database
from portal.staff import bp, session
from portal.staff.roles import require_role


@bp.get("/sessions")
@require_role("viewer")
def my_sessions():
    """The current user's live sessions, this browser's marked."""
    limits = session.limits()
    return render_template(
        "staff/sessions.html", limits=limits, current_id=current_user.session_id,
        sessions=sessions.active(database.session(), current_user.id))


@bp.post("/sessions/<id:session_id>/end")
@require_role("viewer")
def end_session(session_id: int):
    """End one of one's own sessions (this one signs out, as the button says)."""
    if session_id == current_user.session_id:  # this browser's own: a plain sign-out
        session.sign_out()
        return redirect(url_for("staff.login"), 303)
    with database.db().transaction() as tx:
        if not sessions.end_one(tx, current_user.id, session_id):
            abort(404)  # not one of yours, or ended already
        audit.record(tx, session.actor(), "staff.end_session",
                     ("staff_user", current_user.id), None, {"session": session_id})
    flash("That session has ended: the browser holding it must sign in again.", "notice")
    return redirect(url_for("staff.my_sessions"), 303)

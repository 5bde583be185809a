"""``/staff/audit``: admins read the audit log, filtered, newest first, a page at a time."""

from __future__ import annotations

from datetime import date

from flask import render_template, request

from payments.staff import audit
from portal import database
from portal.staff import bp
from portal.staff.roles import require_role

PAGE_SIZE = 50


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None  # a malformed date filters nothing rather than failing the page


def _filters() -> audit.AuditFilter:
    text = {k: request.args.get(k, "").strip()[:320] or None
            for k in ("actor", "action", "target_type", "target_id")}
    return audit.AuditFilter(**text, since=_day("since"), until=_day("until"))


@bp.get("/audit")
@require_role("admin")
def audit_log():
    """The audit log with its filter form; ``cursor`` pages to older entries."""
    filters = _filters()
    raw_cursor = request.args.get("cursor", "")
    cursor = int(raw_cursor) if raw_cursor.isdigit() and len(raw_cursor) < 19 else None
    page = audit.query(database.session(), filters, cursor, PAGE_SIZE)
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template("staff/audit.html", page=page, filters=filters, args=args,
                           actions=audit.actions(database.session()), first=cursor is None)

"""``/staff/payments/confirm``: the confirmation queue, (bulk) confirm, and the ERP export.

Everyone with a role reads the queue and downloads the export; clerks and admins confirm. Each
confirmation is audited in the transaction that makes it. The domain is
:mod:`payments.confirmations`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from payments.confirmations import export, queue
from payments.console import kpis
from payments.db import Database
from payments.staff import audit
from portal import database
from portal.staff import bp, session
from portal.staff.roles import require_role
from portal.urls import MAX_ROW_ID

PAGE_SIZE = 50
SHOWN_REFUSALS = 10  # flashed messages live in the session cookie (4 KB at most)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@bp.app_template_global("staff_invoice_url")
def staff_invoice_url(invoice_id: int | None) -> str | None:
    """The console page of an invoice, or None (no invoice, or no such page in this build:
    templates then show the number as plain text)."""
    if invoice_id is None or "staff.invoice" not in current_app.view_functions:
        return None
    return url_for("staff.invoice", invoice_id=invoice_id)


def page_cursor(raw: str | None) -> int | None:
    """A keyset cursor from the query string; anything else means the first page."""
    return int(raw) if is_id(raw or "") else None


def is_id(raw: str) -> bool:
    """True for the digits of a row id (ASCII only: ``int("²")`` raises; short: a 5,000-digit
    string raises too)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_ROW_ID


@bp.get("/payments/confirm")
@require_role("viewer")
def confirmations(error: str | None = None, status: int = 200):
    """Succeeded, unconfirmed payments with their allocations and match reason, a page at a
    time (oldest first), and the export form."""
    cursor = page_cursor(request.args.get("cursor"))
    reader = database.session()
    page = queue.queue(reader, cursor, PAGE_SIZE)
    return render_template("staff/confirmations.html", page=page, cursor=cursor,
                           counts=kpis.queue_counts(reader),
                           clearing=kpis.pending_ach(reader), error=error), status


def _selected() -> list[int] | None:
    # A row's own Confirm button sends "one"; "Confirm selected" sends the ticked boxes.
    raw = [request.form["one"]] if request.form.get("one") else \
        request.form.getlist("payment_id")
    if not all(is_id(r) for r in raw):
        return None
    return [int(r) for r in raw]


@bp.post("/payments/confirm")
@require_role("clerk")
def confirm():
    """Confirm the selected payments: those that can be are confirmed (each audited), the
    others are named with the reason; a double submit finds them already confirmed."""
    ids = _selected()
    if ids is None:
        return confirmations("That is not a payment of this queue.", 422)
    if not ids:
        return confirmations("Select at least one payment to confirm.", 422)
    if len(set(ids)) > queue.MAX_BATCH:
        return confirmations(f"Confirm at most {queue.MAX_BATCH} payments at once.", 422)
    actor = session.actor()
    with database.db().transaction() as tx:
        done = queue.confirm(tx, ids, actor.label)
        for item in done.confirmed:
            audit.record(tx, actor, "payment.confirm", ("payment", item.payment_id),
                         item.before, item.after)
    _flash(done)
    cursor = page_cursor(request.form.get("cursor"))
    return redirect(url_for("staff.confirmations", cursor=cursor), 303)


def _flash(done: queue.Confirmation) -> None:
    if done.confirmed:
        ids = ", ".join(f"#{c.payment_id}" for c in done.confirmed)
        flash(f"Confirmed {len(done.confirmed)} payment"
              f"{'s' if len(done.confirmed) != 1 else ''}: {ids}.", "success")
    for refused in done.rejected[:SHOWN_REFUSALS]:
        flash(f"Payment #{refused.payment_id} was not confirmed: {refused.reason}.", "error")
    if len(done.rejected) > SHOWN_REFUSALS:
        flash(f"{len(done.rejected) - SHOWN_REFUSALS} more were not confirmed.", "error")


def spreadsheet_safe(value: object) -> object:
    """``value``, with a quote before text a spreadsheet would run as a formula.

    :func:`payments.confirmations.export.write_csv` writes values exactly as they are (for
    importers); this download is opened in spreadsheets too, so text cells that start like a formula
    get a leading ``'``. Numbers are left alone: a negative amount is not a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _chunks(db: Database, since: datetime | None) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(export.EXPORT_COLUMNS)
    # Its own session: the rows are read while the response streams, in keyset batches.
    with db.reader() as reader:
        for n, row in enumerate(export.export_confirmed(reader, since), 1):
            writer.writerow([spreadsheet_safe(v) for v in row.values()])
            if n % export.EXPORT_BATCH == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


@bp.get("/payments/export.csv")
@require_role("viewer")
def export_payments():
    """Confirmed payments as CSV for the ERP, one row per allocation (``since``: confirmed on
    or after that UTC day)."""
    raw = request.args.get("since", "").strip()
    since = None
    if raw:
        try:
            since = datetime.combine(date.fromisoformat(raw), time(), UTC)
        except ValueError:
            return confirmations("Give the start date as YYYY-MM-DD.", 422)
    name = "confirmed-payments" + (f"-since-{since.date().isoformat()}" if since else "")
    # The rows stream from their own session: no request context is kept alive meanwhile.
    return Response(_chunks(database.db(), since), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

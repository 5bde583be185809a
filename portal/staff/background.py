"""``/staff/background``: the background work at a glance (queue depth, the oldest event not
applied yet, failing and given-up events with their errors, customer emails not delivered)
and "retry now" for a failed event or email.

Everyone with a role reads; clerks retry. A retry makes the event (or email) due and queues
its task at once; the task does exactly what the first one would have (and nothing if the
work was done meanwhile).
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for

from payments.clock import utcnow
from payments.events import processing
from payments.outbox import outbox
from payments.staff import audit
from portal import database, tasks
from portal.staff import bp, session
from portal.staff.roles import require_role

MAX_EVENT_ID = 255  # the column's length: anything longer is no stored event


@bp.get("/background")
@require_role("viewer")
def background():
    """Queue depth, the backlog of events not applied, and the failed ones with their error."""
    db_session = database.session()
    try:
        depth = current_app.extensions["portal.huey"].pending_count()
    except Exception:  # noqa: BLE001  (the queue itself is down: say so on the page)
        current_app.logger.exception("could not read the task queue's depth")
        depth = None
    return render_template(
        "staff/background.html", depth=depth, backlog=processing.backlog(db_session),
        failed=processing.failed_events(db_session), give_up_after=processing.GIVE_UP_AFTER,
        emails=outbox.summary(db_session), troubled=outbox.troubled(db_session),
        max_attempts=outbox.MAX_ATTEMPTS, ticks=tasks.TICKS, now=utcnow())


# A Stripe id (evt_…), not a row id: the <id:…> converter is for integer keys.
@bp.post("/background/events/<stripe_event>/retry")
@require_role("clerk")
def retry_event(stripe_event: str):
    """Retry a failed event now (also one the automatic retries gave up on)."""
    event_id = stripe_event
    if len(event_id) > MAX_EVENT_ID:
        abort(404)
    with database.db().transaction() as tx:
        if not processing.retry_now(tx, event_id):
            abort(404)
        audit.record(tx, session.actor(), "event.retry", ("stripe_event", event_id))
    tasks.enqueue_event(current_app, event_id)
    flash(f"Stripe event {event_id} is queued to be applied again.", "notice")
    return redirect(url_for("staff.background"), 303)


@bp.post("/background/emails/<id:email_id>/retry")
@require_role("clerk")
def retry_email(email_id: int):
    """Send a failed email again, with a fresh round of automatic retries."""
    with database.db().transaction() as tx:
        if not outbox.retry(tx, email_id):
            abort(404)
        audit.record(tx, session.actor(), "email.retry", ("email", email_id))
    tasks.enqueue_email(current_app, email_id)
    flash(f"Email #{email_id} is queued to be sent again.", "notice")
    return redirect(url_for("staff.background"), 303)

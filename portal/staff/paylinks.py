"""Pay link actions shared by the invoice page (its pay link) and the customer page (the
statement link): rotate, revoke, and email the link to the customer.

Each action commits with its audit entry, then redirects back (POST-redirect-GET) with a
flashed notice, as the queues do. "Email" queues the message in the outbox in the same
transaction as its audit entry, and a task sends it after the commit: no database lock is held
while the mail relay answers, and a relay that is down is retried for the clerk, who sees any
email that could not be delivered on the Background work page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, flash, redirect

from payments.links import admin
from payments.outbox import outbox
from portal import database, mail, tasks, urls
from portal.staff import session

# What a page says after an action.
NOTICES = {
    "rotated": "A new link was issued. The old link no longer works.",
    "revoked": "The link was revoked. It no longer works, and no new one was issued.",
    "emailed": ("The link is on its way to the customer's address on file (Background work "
                "lists any email that cannot be delivered)."),
    "emailed_new": ("A new link was issued and is on its way to the customer's address on "
                    "file (the old one had expired, been revoked, or was about to expire)."),
}
VERBS = ("rotate", "revoke", "email")

Render = Callable[[str, int], Any]  # (error, status) -> the page again, with the error


def url_of(target: admin.Target, token: str) -> str:
    """The customer-facing URL of a target's token."""
    return urls.pay_url(token) if target.kind == "invoice" else urls.statement_url(token)


def act(target: admin.Target, verb: str, back: str, render: Render):
    """Do ``verb`` (one of :data:`VERBS`) to the target's link; ``back`` is the page to return
    to, ``render`` shows that page again with an error."""
    policy = current_app.extensions["portal.links"]
    work = {"rotate": admin.rotate, "revoke": admin.revoke,
            "email": admin.to_email}[verb]
    try:
        with database.db().transaction() as tx:
            result = work(tx, session.actor(), policy, target)
            email_id = _queue(tx, result) if verb == "email" else None
    except admin.LinkError as exc:
        return render(str(exc), 422)
    if verb != "email":
        flash(NOTICES["rotated" if verb == "rotate" else "revoked"], "notice")
        return redirect(back, 303)
    tasks.enqueue_email(current_app, email_id)
    flash(NOTICES["emailed_new" if result.issued else "emailed"], "notice")
    return redirect(back, 303)


def _queue(tx, outgoing: admin.Outgoing) -> int | None:
    # One message per audited "email" action: the audit entry's id is its key.
    return outbox.queue(tx, mail.link_draft(
        f"staff-link:{outgoing.audit_id}", "staff_link", outgoing.to, outgoing.link,
        outgoing.number, "email/staff_link.txt", automatic=False))

"""Pay link actions shared by the invoice page (its pay link) and the customer page (the
statement link): rotate, revoke, and email the link to the customer.

Each action commits with its audit entry, then redirects back (POST-redirect-GET) with a
flashed notice, as the queues do. Email goes out after the commit, so no database lock is held
while the mail relay answers; a relay failure is audited too, and the clerk is told plainly.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from typing import Any

from flask import current_app, flash, redirect

from payments.links import admin
from portal import database, mail, urls
from portal.customer.renew import link_mail
from portal.staff import session

# What a page says after an action.
NOTICES = {
    "rotated": "A new link was issued. The old link no longer works.",
    "revoked": "The link was revoked. It no longer works, and no new one was issued.",
    "emailed": "The link was emailed to the customer's address on file.",
    "emailed_new": ("A new link was issued and emailed to the customer's address on file "
                    "(the old one had expired, been revoked, or was about to expire)."),
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
    except admin.LinkError as exc:
        return render(str(exc), 422)
    if verb != "email":
        flash(NOTICES["rotated" if verb == "rotate" else "revoked"], "notice")
        return redirect(back, 303)
    error = _send(target, result)
    if error is not None:
        return render(error, 502)
    flash(NOTICES["emailed_new" if result.issued else "emailed"], "notice")
    return redirect(back, 303)


def _send(target: admin.Target, outgoing: admin.Outgoing) -> str | None:
    """Mail the link; on failure audit it and return what to tell the clerk."""
    business = current_app.config["PORTAL_BUSINESS_NAME"]
    subject, body = link_mail(target.kind, outgoing.number, url_of(target, outgoing.token),
                              business, template="email/staff_link.txt")
    try:
        mail.send(outgoing.to, subject, body)
    except (smtplib.SMTPException, OSError) as exc:
        # The message carries the link: log the failure, never the body.
        current_app.logger.exception("could not email a pay link for the staff console")
        with database.db().transaction() as tx:
            admin.email_failed(tx, session.actor(), target, outgoing.to, exc)
        issued = " A new link was issued; copy it from this page." if outgoing.issued else ""
        return (f"The email could not be sent ({type(exc).__name__}): the mail relay refused "
                f"it or could not be reached.{issued}")
    return None

"""Customer email, the portal's side of the outbox (:mod:`payments.outbox`): drafts rendered
from templates, queued in the caller's transaction, sent by a task after the commit.

Mail goes to the relay at ``PORTAL_SMTP_URL``, or to ``.eml`` files in ``instance/outbox``
when it is unset (demo, development).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, render_template

from payments.links.models import PayLink
from payments.outbox import outbox
from payments.outbox.send import Transport
from portal import urls

# RFC 3834: a message a program sent on its own (not a person writing) says so, and
# well-behaved autoresponders then do not answer it.
AUTOMATIC = {"Auto-Submitted": "auto-generated"}


def transport(app: Flask) -> Transport:
    """The app's mail relay, from its configuration."""
    return Transport(sender=app.config["PORTAL_MAIL_FROM"],
                     smtp_url=app.config.get("PORTAL_SMTP_URL"),
                     folder=Path(app.instance_path) / "outbox")


def link_url(link: PayLink) -> str:
    """The customer-facing URL of a live link, derived from its nonce with the link key."""
    token = current_app.extensions["portal.links"].key.token(link.nonce)
    return urls.pay_url(token) if link.scope == "invoice" else urls.statement_url(token)


def link_draft(key: str, kind: str, to: str, link: PayLink, number: str | None,
               template: str, automatic: bool) -> outbox.Draft:
    """An email carrying an invoice's or a statement's link (the body holds the link's place,
    never its token). ``kind`` is ``fresh_link`` or ``staff_link``; ``automatic`` marks a
    message no person wrote (``Auto-Submitted``)."""
    business = current_app.config["PORTAL_BUSINESS_NAME"]
    scope = link.scope
    body = render_template(template, kind=scope, number=number, url=outbox.LINK,
                           business=business)
    if scope == "statement":
        subject = f"Your statement from {business}"
    else:
        # The number comes from the ERP: a line break in it must not reach a mail header.
        subject = f"Your link to invoice {' '.join((number or '').split())}"
    return outbox.Draft(key=key, kind=kind, to=to, subject=subject, body=body,
                        link_id=link.id, headers=dict(AUTOMATIC) if automatic else {})

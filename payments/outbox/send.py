"""Sending one outbox row: claim it, put its live link in, hand it to the mail relay (SMTP, or
files in a folder when none is configured), and record what happened.

``PORTAL_SMTP_URL`` looks like ``smtp://user:password@host:587?starttls=1`` or
``smtps://user:password@host:465``. Bodies carry pay links, so nothing here logs them.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from payments.db import Database
from payments.links.models import PayLink
from payments.outbox import outbox
from payments.outbox.outbox import Claimed

LinkUrl = Callable[[PayLink], str]  # a live link → its customer-facing URL (needs the link key)
# Checked just before the relay gets a message of its kind: a reason to cancel it, or None
# (a reminder whose invoice was paid since it was written must not go out).
Guard = Callable[[Database, Claimed], str | None]


@dataclass(frozen=True)
class Transport:
    """Where mail goes: the SMTP relay at ``smtp_url``, or ``.eml`` files in ``folder``."""

    sender: str  # the From address
    smtp_url: str | None
    folder: Path

    def send(self, message: EmailMessage) -> None:
        """Hand one message over; raises on any relay failure (the caller records it)."""
        if self.smtp_url:
            _smtp(self.smtp_url, message)
        else:
            # Without SMTP (demo, development) mail lands as files an operator can open.
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{time.time_ns()}.eml").write_bytes(bytes(message))


def deliver(db: Database, email_id: int, transport: Transport, link_url: LinkUrl,
            guards: Mapping[str, Guard] | None = None) -> str:
    """Send one outbox row unless it is sent, canceled, not due, or being sent elsewhere:
    ``sent``, ``skipped``, ``canceled`` (a link died first, or its kind's guard said no),
    ``retrying`` or ``failed``."""
    claimed = outbox.claim(db, email_id)
    if claimed is None:
        return "skipped"
    guard = (guards or {}).get(claimed.kind)
    reason = guard(db, claimed) if guard is not None else None
    if reason is None and ((claimed.wants_link and claimed.link is None)
                           or None in claimed.links.values()):
        reason = "the link was revoked or expired before the email went out"
    if reason is not None:
        outbox.canceled(db, email_id, reason)
        return "canceled"
    body, html = (_with_links(text, claimed, link_url) for text in (claimed.body, claimed.html))
    try:
        transport.send(message(claimed, body, transport.sender, html))
    except Exception as exc:  # noqa: BLE001  (whatever broke, the row records it and retries)
        return outbox.failed(db, email_id, exc, permanent=permanent(exc))
    outbox.sent(db, email_id)
    return "sent"


def _with_links(text: str | None, claimed: Claimed, link_url: LinkUrl) -> str | None:
    """``text`` with every link mark replaced by the live URL (derived now, never stored)."""
    if text is None:
        return None
    if claimed.link is not None:
        text = text.replace(outbox.LINK, link_url(claimed.link))
    return outbox.fill_marks(text, claimed.links, link_url)


def message(email: Claimed, body: str, sender: str, html: str | None = None) -> EmailMessage:
    """The message for a claimed row. Its ``Message-ID`` comes from the row's key, so a
    message sent again after a crash is recognisably the same message."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "ar-portal.invalid"
    msg["Message-ID"] = f"<{hashlib.sha256(email.key.encode()).hexdigest()[:32]}@{domain}>"
    for name, value in email.headers.items():
        msg[name] = value  # the email package refuses a line break in any header value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def permanent(exc: BaseException) -> bool:
    """True when the relay refused this message for good (a 5xx to its recipient or its
    content: no such mailbox, rejected); False for what may pass: a relay down, a timeout, a
    4xx "try again later", and the portal's own settings (login, sender), which staff fix
    while the retries run."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    return False


def _smtp(url: str, msg: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("PORTAL_SMTP_URL must start with smtp:// or smtps://")
    host, port = parts.hostname or "localhost", parts.port
    cls = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with cls(host, port or (465 if parts.scheme == "smtps" else 25), timeout=15) as client:
        if parts.scheme == "smtp" and parse_qs(parts.query).get("starttls") == ["1"]:
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(msg)

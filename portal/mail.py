"""Outgoing email: SMTP when PORTAL_SMTP_URL is set, otherwise files in ``instance/outbox``.

``PORTAL_SMTP_URL`` looks like ``smtp://user:password@host:587?starttls=1`` or
``smtps://user:password@host:465``. Mail bodies carry pay links, so nothing here logs them.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app


def send(to: str, subject: str, body: str) -> None:
    """Send one plain-text email (raises on SMTP failure; callers decide what to show)."""
    msg = EmailMessage()
    msg["From"] = current_app.config["PORTAL_MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    url = current_app.config.get("PORTAL_SMTP_URL")
    if url:
        _smtp(url, msg)
    else:
        _outbox(msg)


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


def _outbox(msg: EmailMessage) -> None:
    # Without SMTP (demo, development) mail lands as .eml files an operator can open.
    outbox = Path(current_app.instance_path) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / f"{time.time_ns()}.eml").write_bytes(bytes(msg))
    current_app.logger.info("email to the customer written to %s", outbox)

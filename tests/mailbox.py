"""A real SMTP server for the tests that send mail (fresh links, the console's "email the
link"): aiosmtpd on a free local port, keeping every message it accepts."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from payments.outbox.models import OutboxEmail


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A local TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox():
    """A real SMTP server on a local port: ``(smtp_url, inbox)``."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"smtp://127.0.0.1:{controller.port}", handler
    controller.stop()


def emailed_url(message) -> str:
    """The pay or statement link in a message's plain-text body."""
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"https://portal\.test/[is]/[A-Za-z0-9_-]{43}", body).group(0)


def outbox_rows(db) -> list[OutboxEmail]:
    """Every email in the outbox, oldest first."""
    with db.reader() as session:
        return list(session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))

"""The outbox's rows and their sending: one message per key, one sender per row, the live link
put in at send time (never stored), retries with a backoff, a final failed state, and a
sender lost mid-send made up for with the same Message-ID.

Mail goes to real places: ``.eml`` files (the transport without SMTP), or an aiosmtpd server.
"""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from payments.clock import utcnow
from payments.links import tokens
from payments.links.models import PayLink
from payments.outbox import outbox, send
from payments.outbox.models import OutboxEmail
from tests.conftest import LINK_KEY, token_of
from tests.mailbox import Inbox, free_port, outbox_rows

KEY = tokens.LinkKey(LINK_KEY.encode())


def link_url(link: PayLink) -> str:
    """What the portal does at send time: derive the token from the nonce with the link key."""
    return f"https://portal.test/i/{KEY.token(link.nonce)}"


@pytest.fixture
def link(api, db) -> PayLink:
    """The live pay link of a fresh invoice, and its URL as the API shows it."""
    inv = api.create()
    with db.reader() as session:
        row = session.scalar(select(PayLink).where(PayLink.invoice_id == inv["id"]))
    assert link_url(row) == inv["pay_url"]
    return row


def draft(link: PayLink | None, key: str = "test:1", **extra) -> outbox.Draft:
    body = f"Here is your link:\n\n{outbox.LINK}\n" if link else "No link here.\n"
    return outbox.Draft(key=key, kind="test", to="ap@northwind.example", subject="Your link",
                        body=body, link_id=link.id if link else None, **extra)


def queued(db, *drafts: outbox.Draft) -> list[int | None]:
    with db.transaction() as session:
        return [outbox.queue(session, d) for d in drafts]


def files(tmp_path: Path) -> send.Transport:
    return send.Transport("billing@acme.example", None, tmp_path / "outbox")


def sent_files(tmp_path: Path) -> list:
    folder = tmp_path / "outbox"
    return [message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def make_due(db) -> None:
    """Let every retry's backoff run out (as if the clock had moved on)."""
    with db.transaction() as session:
        session.execute(update(OutboxEmail).values(next_attempt_at=utcnow() - timedelta(1)))


# --- queueing ------------------------------------------------------------------------------------


def test_one_key_is_one_message_however_often_it_is_queued(db, link):
    first, again = queued(db, draft(link), draft(link))
    assert first is not None and again is None
    assert [row.key for row in outbox_rows(db)] == ["test:1"]


@pytest.mark.parametrize("body,with_link", [("no placeholder", True), (outbox.LINK, False)])
def test_a_body_has_the_link_placeholder_exactly_when_it_has_a_link(db, link, body, with_link):
    bad = outbox.Draft("k", "test", "a@b.example", "s", body, link.id if with_link else None)
    with pytest.raises(ValueError), db.transaction() as session:
        outbox.queue(session, bad)
    assert outbox_rows(db) == []


# --- sending -------------------------------------------------------------------------------------


def test_an_email_is_sent_once_with_the_live_link_which_is_never_stored(db, link, tmp_path):
    [email_id] = queued(db, draft(link, headers={"Auto-Submitted": "auto-generated"}))
    assert send.deliver(db, email_id, files(tmp_path), link_url) == "sent"
    assert send.deliver(db, email_id, files(tmp_path), link_url) == "skipped"
    [message] = sent_files(tmp_path)
    assert link_url(link) in message.get_content()
    assert message["To"] == "ap@northwind.example" and message["From"] == "billing@acme.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@acme.example>")
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.finished_at is not None
    assert token_of(link_url(link)) not in repr([getattr(row, c.key)
                                                 for c in OutboxEmail.__table__.columns])


def test_an_email_whose_link_was_revoked_meanwhile_is_canceled(db, link, tmp_path):
    [email_id] = queued(db, draft(link))
    with db.transaction() as session:
        tokens.revoke_active(session, invoice_id=link.invoice_id)
    assert send.deliver(db, email_id, files(tmp_path), link_url) == "canceled"
    assert sent_files(tmp_path) == []
    [row] = outbox_rows(db)
    assert row.status == "canceled" and "revoked or expired" in row.last_error


def test_a_relay_that_is_down_is_retried_with_a_doubling_backoff_then_given_up(db, link):
    down = send.Transport("billing@acme.example", f"smtp://127.0.0.1:{free_port()}", Path("."))
    [email_id] = queued(db, draft(link))
    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        before = utcnow()
        outcome = send.deliver(db, email_id, down, link_url)
        [row] = outbox_rows(db)
        assert row.attempts == attempt and "ConnectionRefusedError" in row.last_error
        if attempt < outbox.MAX_ATTEMPTS:
            assert outcome == "retrying" and row.status == "pending"
            # Not due before its backoff has run out: neither the task nor the sweep sends it.
            assert send.deliver(db, email_id, down, link_url) == "skipped"
            assert email_id not in outbox.due(db, now=before)
            waits.append(round((row.next_attempt_at - before).total_seconds() / 60))
            make_due(db)
    assert outcome == "failed" and row.status == "failed" and row.finished_at is not None
    assert waits == [1, 2, 4, 8, 16, 32, 60]
    assert email_id not in outbox.due(db, now=utcnow() + timedelta(days=1))  # staff's turn


class Refusing(Inbox):
    """A relay that knows no such mailbox: a permanent 5xx refusal."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        return "550 5.1.1 No such mailbox"


def test_a_mailbox_refused_for_good_fails_at_once(db, link):
    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        relay = send.Transport("billing@acme.example", f"smtp://127.0.0.1:{controller.port}",
                               Path("."))
        [email_id] = queued(db, draft(link))
        assert send.deliver(db, email_id, relay, link_url) == "failed"
    finally:
        controller.stop()
    [row] = outbox_rows(db)
    assert row.attempts == 1 and "No such mailbox" in row.last_error


def test_a_sender_lost_mid_send_is_made_up_for_with_the_same_message_id(db, link, tmp_path):
    [email_id] = queued(db, draft(link))
    assert send.deliver(db, email_id, files(tmp_path), link_url) == "sent"
    # The relay took it, then the sender died before the row said so.
    with db.transaction() as session:
        session.execute(update(OutboxEmail).values(status="sending", claimed_at=utcnow()))
    assert outbox.due(db) == []  # a sender "sending" right now is left alone
    assert outbox.due(db, now=utcnow() + outbox.STALE + timedelta(seconds=1)) == [email_id]
    assert send.deliver(db, email_id, files(tmp_path), link_url) == "sent"
    first, second = sent_files(tmp_path)
    assert first["Message-ID"] == second["Message-ID"]  # recognisably one message


def test_a_fresh_email_is_left_to_its_own_task_for_the_grace_period(db, link):
    [email_id] = queued(db, draft(link))
    assert outbox.due(db, grace=timedelta(minutes=1)) == []
    assert outbox.due(db, now=utcnow() + timedelta(minutes=2), grace=timedelta(minutes=1)) == [
        email_id]


def test_staff_retry_gives_only_a_failed_email_a_fresh_round(db, link, tmp_path):
    [email_id] = queued(db, draft(link))
    with db.transaction() as session:
        assert not outbox.retry(session, email_id)  # pending: the retries are still running
        session.execute(update(OutboxEmail).values(status="failed", attempts=8))
    with db.transaction() as session:
        assert outbox.retry(session, email_id)
    [row] = outbox_rows(db)
    assert (row.status, row.attempts) == ("pending", 0)
    assert send.deliver(db, email_id, files(tmp_path), link_url) == "sent"
    with db.transaction() as session:
        assert not outbox.retry(session, email_id)  # sent: nothing to retry


def test_the_console_summary_counts_each_state(db, link, tmp_path):
    ids = queued(db, *(draft(link, key=f"test:{n}") for n in range(4)))
    send.deliver(db, ids[0], files(tmp_path), link_url)
    with db.transaction() as session:
        session.execute(update(OutboxEmail).where(OutboxEmail.id == ids[1])
                        .values(status="failed", attempts=8, last_error="boom"))
        session.execute(update(OutboxEmail).where(OutboxEmail.id == ids[2])
                        .values(attempts=2, last_error="busy"))
    with db.reader() as session:
        summary = outbox.summary(session)
        troubled = [row.id for row in outbox.troubled(session)]
        latest = outbox.latest(session, invoice_id=link.invoice_id)
    assert (summary.pending, summary.retrying, summary.failed) == (1, 1, 1)
    assert troubled == [ids[1], ids[2]]  # given up first
    assert latest.id == ids[3]

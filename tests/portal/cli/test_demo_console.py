"""The demo's console state, made through the real pipeline: the portal's pay pages, a running
sandbox paying and delivering signed webhooks over HTTP. The queues fill, the ledger verifies,
the KPIs have something to say, and running it again adds nothing."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from payments.console import kpis
from payments.db import Database
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import Payment, ReconciliationException
from payments.staff import audit
from portal.cli import demo_console
from portal.cli.demo import demo
from portal.cli.demo_data import console_invoices
from tests.integration.conftest import stack  # noqa: F401  (portal + sandbox on real HTTP)


def _state(db) -> dict:
    today = datetime.now(UTC).date()
    with db.reader() as session:
        return {
            "verify": ledger.verify(session),
            "queues": kpis.queue_counts(session),
            "pending": kpis.pending_ach(session),
            "aging": kpis.aging(session, today),
            "dso": kpis.dso(session, today),
            "cei": kpis.cei(session, today),
            "payments": session.scalar(select(func.count()).select_from(Payment)),
            "audit": session.scalar(select(func.count()).select_from(audit.AuditEntry)),
        }


def test_the_console_state_is_made_through_the_pipeline_once(stack):  # noqa: F811
    db = stack.app.extensions["portal.db"]
    seeded = demo_console.seed_console(stack.app, stack.sandbox.app, stack.sandbox.url)
    assert len(seeded.ran) == sum(d.scenario != "open" for d in console_invoices())
    state = _state(db)
    assert state["verify"] == []
    # Three cards, the unmatched payment and both halves of the overpayment wait; the
    # confirmed ones (paid, ACH cleared, disputed) do not; the clearing ACH debit cannot.
    assert state["queues"] == kpis.Queues(6, (("overpayment", 1),
                                              ("reversal_after_confirmation", 1),
                                              ("unmatched_payment", 1)), 0)
    assert state["pending"] == {"USD": kpis.Pending("USD", 116970, 1)}
    assert len(seeded.clearing) == 1
    usd = state["aging"]["USD"]
    assert all(b.amount > 0 for b in usd.buckets), usd  # something in every bucket
    assert set(state["aging"]) == {"JPY", "USD"}
    for code in ("JPY", "USD"):
        assert state["dso"][code].days is not None and state["cei"][code].percent is not None
    with db.reader() as session:
        overpaid = session.scalar(select(ReconciliationException).where(
            ReconciliationException.kind == "overpayment"))
        assert overpaid.amount == 10000  # the second tab's $100.00
        assert session.get(Invoice, overpaid.invoice_id).external_id == "DEMO-3005"
        confirmed_by = set(session.scalars(select(Payment.confirmed_by)
                                           .where(Payment.confirmed_at.is_not(None))))
        assert confirmed_by == {"demo"}
    again = demo_console.seed_console(stack.app, stack.sandbox.app, stack.sandbox.url)
    assert again.ran == [] and _state(db) == state


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all held open until each is known)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.slow
def test_portal_demo_seeds_the_console_and_prints_what_it_made(tmp_path, monkeypatch,
                                                               cheap_hashing):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("PORTAL_DATABASE_URL", raising=False)
    port, sandbox_port = _free_ports(2)
    args = ["--seed-only", "--port", str(port), "--sandbox-port", str(sandbox_port)]
    first = CliRunner().invoke(demo, args)
    assert first.exit_code == 0, first.output
    assert "INV-3005 (Northwind Traders): paid twice in two tabs" in first.output
    assert "/_sandbox/payment_intents/pi_" in first.output  # the debit to settle, by id
    assert "INV-0990 (Globex Corporation): travel expenses disputed" in first.output
    db = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        state = _state(db)
        assert state["verify"] == [] and state["queues"].unconfirmed == 6
        second = CliRunner().invoke(demo, args)
        assert second.exit_code == 0, second.output
        assert "made by an earlier run" in second.output
        # Only the demo admin's new password was audited; no payment was added.
        assert _state(db) == {**state, "audit": state["audit"] + 1}
    finally:
        db.dispose()

"""A chaos run: duplicated, shuffled, dropped and failing deliveries and a webhook outage, then
``portal stripe sync``. Every payment must end up counted exactly once."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from payments.events import handlers
from payments.events.models import EventFailure
from portal.cli import cli
from tests.factories import lines_totalling
from tests.integration.conftest import session_id, wait_for

CARD = {"method": "card", "number": "4242424242424242"}
BANK = {"method": "us_bank_account", "account_number": "000123456789"}


@pytest.fixture
def flaky_handlers(monkeypatch):
    """5 % of handler calls raise, as a database or network hiccup would."""
    rng = random.Random(20261122)

    def flaky(handler):
        def run(ctx, session, obj):
            if rng.random() < 0.05:
                raise RuntimeError("injected handler fault")
            return handler(ctx, session, obj)
        return run

    for name, handler in list(handlers.HANDLERS.items()):
        monkeypatch.setitem(handlers.HANDLERS, name, flaky(handler))


def _cli(stack, *args):
    result = CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: stack.app))
    return result.exit_code, result.output


def _quiet(stack) -> None:
    def idle():
        return not stack.sandbox.get("deliveries", status="pending")["data"]
    wait_for(idle, timeout=30)


def _pay(stack, customer, inv, method) -> dict:
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    return stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                                 method)["payment_intent"]


def test_chaos_ends_with_every_payment_counted_once(stack, customer, flaky_handlers):
    stack.sandbox.control("faults", {"duplicate": True, "shuffle_window": 4,
                                     "shuffle_hold": 0.05, "drop_probability": 0.1})
    expected: dict[int, int] = {}
    for i in range(12):
        inv = stack.create_invoice(external_id=f"C{i}", number=f"C-{i}",
                                   **lines_totalling(1, 1000 + i))
        if i == 6:
            stack.sandbox.control("faults", {"outage": True})
        intent = _pay(stack, customer, inv, BANK if i % 3 == 0 else CARD)
        paid = 1000 + i
        if i % 3 == 0:  # ACH: every other one clears, the rest are returned
            verdict = "settle" if i % 2 == 0 else "fail"
            stack.sandbox.control(f"payment_intents/{intent['id']}/{verdict}")
            paid = paid if verdict == "settle" else 0
        elif i % 4 == 1:
            stack.sandbox.client.v1.refunds.create({"payment_intent": intent["id"],
                                                    "amount": 300})
            paid -= 300
        elif i % 5 == 2:
            charge = stack.sandbox.client.v1.payment_intents.retrieve(intent["id"]).latest_charge
            dispute = stack.sandbox.control(f"charges/{charge}/dispute")
            stack.sandbox.control(f"disputes/{dispute['id']}/lose")
            paid = 0
        expected[inv["id"]] = paid
    stack.sandbox.control("faults", {"outage": False})
    _quiet(stack)

    for _ in range(6):  # sync until a run sees no handler fault (5 % each time)
        code, output = _cli(stack, "stripe", "sync")
        if code == 0:
            break
    assert code == 0, output
    code, output = _cli(stack, "ledger", "verify")
    assert code == 0, output
    actual = {inv_id: stack.invoice(inv_id)["amount_paid"] for inv_id in expected}
    assert actual == expected
    assert all(stack.invoice(inv_id)["amount_pending"] == 0 for inv_id in expected)
    # The chaos was real: deliveries were dropped and handlers failed along the way.
    statuses = {d["status"] for d in stack.sandbox.get("deliveries")["data"]}
    assert "dropped" in statuses
    with stack.app.extensions["portal.db"].reader() as session:
        assert session.scalar(select(func.count()).select_from(EventFailure)) > 0

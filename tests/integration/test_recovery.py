"""Nothing is lost when webhooks are: ``portal stripe sync`` recovers from the Events API."""

from __future__ import annotations

from click.testing import CliRunner
from flask.cli import ScriptInfo

from portal.cli import cli
from tests.integration.conftest import session_id


def _portal(stack, *args):
    result = CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: stack.app))
    return result.exit_code, result.output


def test_sync_after_a_webhook_outage_records_the_payment_once(stack, customer):
    stack.sandbox.control("faults", {"outage": True})
    inv = stack.paid_by_card(customer)
    assert stack.invoice(inv["id"])["amount_paid"] == 0  # the portal heard nothing

    code, output = _portal(stack, "stripe", "sync")
    assert code == 0, output
    assert "0 failed" in output
    assert stack.invoice(inv["id"])["status"] == "paid"

    code, output = _portal(stack, "stripe", "sync")  # again: nothing new, nothing twice
    assert code == 0 and " 0 applied" in output
    stack.sandbox.control("faults", {"outage": False})
    code, output = _portal(stack, "ledger", "verify")
    assert code == 0 and "verified" in output
    assert stack.invoice(inv["id"])["amount_paid"] == 3850


def test_sync_asks_stripe_about_attempts_still_open(stack, customer):
    # Every webhook dropped, and the events aged out of the Events API: only the sweep of
    # open attempts can still find the payment.
    stack.sandbox.control("faults", {"drop_probability": 1.0})
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                          {"method": "card", "number": "4242424242424242"})
    stack.sandbox.control("clock", {"advance": 31 * 24 * 3600})
    code, output = _portal(stack, "stripe", "sync", "--since", "2000-01-01")
    assert code == 0, output
    assert "Stripe keeps events for 30 days" in output
    assert "0 events" in output and "1 open attempts checked" in output
    assert stack.invoice(inv["id"])["status"] == "paid"


def test_without_stripe_configured_sync_says_so(app):
    result = CliRunner().invoke(cli, ["stripe", "sync"], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 1 and "STRIPE_SECRET_KEY" in result.output

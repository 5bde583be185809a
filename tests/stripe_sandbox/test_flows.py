"""Each payment flow's state machine and the events it sends, in order, paid through the
control API (the hosted page is tested in test_hosted.py)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.stripe_sandbox.conftest import Sandbox, wait_for


def payment_events(sandbox: Sandbox) -> list[str]:
    return [t for t in sandbox.event_types() if not t.startswith("customer.")]


def pay(sandbox: Sandbox, session_id: str, **body: Any) -> dict[str, Any]:
    return sandbox.control(f"checkout/sessions/{session_id}/pay", body)


def test_card_success(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    assert session.payment_intent is None
    result = pay(sandbox, session.id, method="card", number="4242424242424242")
    assert result["status"] == "succeeded"
    assert result["redirect"] == ("https://portal.test/i/tok/return?session=" + session.id)
    assert payment_events(sandbox) == ["payment_intent.created", "charge.succeeded",
                                       "payment_intent.succeeded", "checkout.session.completed"]
    done = sandbox.client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]})
    assert (done.status, done.payment_status) == ("complete", "paid")
    intent = done.payment_intent
    assert intent.status == "succeeded" and intent.amount_received == 15050
    assert intent.metadata["payment_attempt"] == "pa_1"
    assert intent.latest_charge.id.startswith("ch_")
    assert intent.latest_charge.payment_method_details.card.last4 == "4242"
    completed = sandbox.client.v1.events.list(params={"type": "checkout.session.completed"})
    snapshot = completed.data[0].data.object
    assert snapshot.payment_status == "paid" and snapshot.client_reference_id == "attempt_1"


@pytest.mark.parametrize(("number", "code", "decline_code"), [
    ("4000000000000002", "card_declined", "generic_decline"),
    ("4000000000009995", "card_declined", "insufficient_funds"),
    ("4000000000000069", "expired_card", "expired_card"),
])
def test_declined_card_keeps_session_open(sandbox: Sandbox, new_session: Any, number: str,
                                          code: str, decline_code: str) -> None:
    session = new_session()
    result = pay(sandbox, session.id, method="card", number=number)
    assert result["status"] == "declined"
    assert (result["error"]["code"], result["error"]["decline_code"]) == (code, decline_code)
    assert payment_events(sandbox) == ["payment_intent.created", "charge.failed",
                                       "payment_intent.payment_failed"]
    still = sandbox.client.v1.checkout.sessions.retrieve(session.id)
    assert still.status == "open" and still.payment_status == "unpaid"
    failed = sandbox.client.v1.charges.list(params={"payment_intent": still.payment_intent})
    assert failed.data[0].status == "failed" and failed.data[0].outcome.reason == decline_code
    retry = pay(sandbox, session.id, method="card", number="4242424242424242")
    assert retry["status"] == "succeeded"
    assert retry["payment_intent"]["id"] == still.payment_intent  # the same intent is reused
    assert payment_events(sandbox)[3:] == ["charge.succeeded", "payment_intent.succeeded",
                                           "checkout.session.completed"]


def test_form_errors_create_nothing(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    for body in ({"number": "4242424242424241"}, {"number": "4111111111111111"},
                 {"number": "4242424242424242", "exp_month": 1, "exp_year": 2020},
                 {"number": "4242424242424242", "cvc": "1"}):
        error = sandbox.control(f"checkout/sessions/{session.id}/pay",
                                dict(body, method="card"), expect=400)
        assert error["error"]["type"] == "invalid_request_error"
    error = sandbox.control(f"checkout/sessions/{session.id}/pay",
                            {"method": "customer_balance"}, expect=400)
    assert "does not accept" in error["error"]["message"]
    assert payment_events(sandbox) == []


@pytest.mark.parametrize("number", ["4000002500003155", "4000000000003220"])
def test_three_d_secure_complete(sandbox: Sandbox, new_session: Any, number: str) -> None:
    session = new_session()
    result = pay(sandbox, session.id, method="card", number=number)
    assert result["status"] == "requires_action"
    intent = result["payment_intent"]
    assert intent["next_action"]["type"] == "redirect_to_url"
    assert payment_events(sandbox) == ["payment_intent.created",
                                       "payment_intent.requires_action"]
    done = sandbox.control(f"payment_intents/{intent['id']}/authenticate",
                           {"result": "complete"})
    assert done["status"] == "succeeded"
    assert payment_events(sandbox)[2:] == ["charge.succeeded", "payment_intent.succeeded",
                                           "checkout.session.completed"]
    charge = sandbox.client.v1.charges.retrieve(done["payment_intent"]["latest_charge"])
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"


def test_three_d_secure_fail(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    intent = pay(sandbox, session.id, method="card", number="4000002500003155")["payment_intent"]
    failed = sandbox.control(f"payment_intents/{intent['id']}/authenticate", {"result": "fail"})
    assert failed["status"] == "declined"
    assert failed["error"]["code"] == "payment_intent_authentication_failure"
    assert payment_events(sandbox)[-1] == "payment_intent.payment_failed"
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert sandbox.client.v1.charges.list(params={"payment_intent": intent["id"]}).data == []


def pay_by_bank(sandbox: Sandbox, session_id: str, account: str = "000123456789",
                **extra: Any) -> dict[str, Any]:
    return pay(sandbox, session_id, method="us_bank_account", account_number=account, **extra)


def test_ach_processing_then_settled(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    result = pay_by_bank(sandbox, session.id)
    assert result["status"] == "processing"
    assert payment_events(sandbox) == ["payment_intent.created", "checkout.session.completed",
                                       "payment_intent.processing", "charge.pending"]
    done = sandbox.client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "unpaid")
    intent = sandbox.client.v1.payment_intents.retrieve(done.payment_intent)
    charge = sandbox.client.v1.charges.retrieve(intent.latest_charge)
    assert intent.status == "processing"
    assert charge.id.startswith("py_") and charge.status == "pending" and not charge.paid
    assert charge.payment_method_details.us_bank_account.last4 == "6789"
    sandbox.control(f"payment_intents/{intent.id}/settle")
    assert payment_events(sandbox)[4:] == ["charge.succeeded", "payment_intent.succeeded",
                                           "checkout.session.async_payment_succeeded"]
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    sandbox.control(f"payment_intents/{intent.id}/settle", expect=400)


@pytest.mark.parametrize(("account", "code", "failure_code"), [
    ("000222222227", "R01", "insufficient_funds"),
    ("000111111113", "R02", "account_closed"),
    ("000111111116", "R03", "no_account"),
    ("000333333335", "R10", "debit_not_authorized"),
])
def test_ach_returned_with_return_code(sandbox: Sandbox, new_session: Any, account: str,
                                       code: str, failure_code: str) -> None:
    session = new_session()
    intent_id = pay_by_bank(sandbox, session.id, account)["payment_intent"]["id"]
    sandbox.control(f"payment_intents/{intent_id}/advance")
    assert payment_events(sandbox)[4:] == ["charge.failed", "payment_intent.payment_failed",
                                           "checkout.session.async_payment_failed"]
    intent = sandbox.client.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == failure_code
    charge = sandbox.client.v1.charges.retrieve(intent.latest_charge)
    assert charge.status == "failed" and charge.failure_code == failure_code
    assert f"ACH return code {code}" in charge.failure_message
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_status == "unpaid"


def test_ach_fail_with_explicit_return_code(sandbox: Sandbox, new_session: Any) -> None:
    intent_id = pay_by_bank(sandbox, new_session().id)["payment_intent"]["id"]
    sandbox.control(f"payment_intents/{intent_id}/fail", {"return_code": "R99"}, expect=400)
    sandbox.control(f"payment_intents/{intent_id}/fail", {"return_code": "R16"})
    charge = sandbox.client.v1.charges.list(params={"payment_intent": intent_id}).data[0]
    assert charge.failure_code == "account_frozen"


def test_ach_dispute_account(sandbox: Sandbox, new_session: Any) -> None:
    intent_id = pay_by_bank(sandbox, new_session().id, "000555555559")["payment_intent"]["id"]
    sandbox.control(f"payment_intents/{intent_id}/advance")
    assert payment_events(sandbox)[-5:] == [
        "charge.succeeded", "payment_intent.succeeded",
        "checkout.session.async_payment_succeeded", "charge.dispute.created",
        "charge.dispute.funds_withdrawn"]


@pytest.mark.parametrize("sandbox_config", [{"SANDBOX_ACH_SETTLE_AFTER": 0.1}])
def test_ach_resolves_after_configured_delay(sandbox: Sandbox, new_session: Any) -> None:
    intent_id = pay_by_bank(sandbox, new_session().id, "000222222227")["payment_intent"]["id"]
    assert sandbox.client.v1.payment_intents.retrieve(intent_id).status == "processing"
    wait_for(lambda: sandbox.client.v1.payment_intents.retrieve(intent_id).status
             == "requires_payment_method")
    assert "checkout.session.async_payment_failed" in sandbox.event_types()


def test_microdeposit_verification(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session(payment_method_options={
        "us_bank_account": {"verification_method": "microdeposits"}})
    result = pay_by_bank(sandbox, session.id)
    assert result["status"] == "verify_microdeposits"
    intent = result["payment_intent"]
    assert intent["next_action"]["type"] == "verify_with_microdeposits"
    assert payment_events(sandbox) == ["payment_intent.created", "checkout.session.completed",
                                       "payment_intent.requires_action"]
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        sandbox.client.v1.payment_intents.verify_microdeposits(
            intent["id"], params={"amounts": [1, 2]})
    assert wrong.value.code == "payment_method_microdeposit_verification_amounts_mismatch"
    verified = sandbox.client.v1.payment_intents.verify_microdeposits(
        intent["id"], params={"amounts": [32, 45]})
    assert verified.status == "processing"
    assert payment_events(sandbox)[3:] == ["payment_intent.processing", "charge.pending"]


def test_microdeposit_attempts_exceeded(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session(payment_method_options={
        "us_bank_account": {"verification_method": "microdeposits"}})
    intent_id = pay_by_bank(sandbox, session.id)["payment_intent"]["id"]
    for _ in range(3):
        with pytest.raises(stripe.InvalidRequestError):
            sandbox.client.v1.payment_intents.verify_microdeposits(
                intent_id, params={"descriptor_code": "SM00XX"})
    assert payment_events(sandbox)[-2:] == ["payment_intent.payment_failed",
                                            "checkout.session.async_payment_failed"]


def test_instant_only_rejects_microdeposits(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session(payment_method_options={
        "us_bank_account": {"verification_method": "instant"}})
    sandbox.control(f"checkout/sessions/{session.id}/pay",
                    {"method": "us_bank_account", "account_number": "000123456789",
                     "verification": "microdeposits"}, expect=400)
    sandbox.control(f"checkout/sessions/{session.id}/pay",
                    {"method": "us_bank_account", "account_number": "000123456789",
                     "routing_number": "021000021"}, expect=400)


def test_bank_transfer_partial_then_full(sandbox: Sandbox, new_session: Any,
                                         customer: Any) -> None:
    session = new_session(bank_transfer=True)
    result = pay(sandbox, session.id, method="customer_balance")
    assert result["status"] == "awaiting_transfer"
    assert payment_events(sandbox) == ["payment_intent.created", "checkout.session.completed",
                                       "payment_intent.requires_action"]
    intent = sandbox.client.v1.payment_intents.retrieve(result["payment_intent"]["id"])
    instructions = intent.next_action.display_bank_transfer_instructions
    assert intent.status == "requires_action" and instructions.type == "us_bank_transfer"
    assert (instructions.amount_remaining, instructions.currency) == (15050, "usd")
    aba = instructions.financial_addresses[0].aba
    assert aba.routing_number == "110000000" and aba.account_number.isdigit()
    assert instructions.reference
    done = sandbox.client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "unpaid")

    sandbox.control(f"customers/{customer.id}/fund", {"amount": 5000})
    assert payment_events(sandbox)[3:] == ["customer_cash_balance_transaction.created",
                                           "customer_cash_balance_transaction.created",
                                           "payment_intent.partially_funded"]
    partial = sandbox.client.v1.payment_intents.retrieve(intent.id)
    assert partial.next_action.display_bank_transfer_instructions.amount_remaining == 10050
    txns = sandbox.client.v1.events.list(
        params={"type": "customer_cash_balance_transaction.created"}).data
    assert [e.data.object.type for e in reversed(txns)] == ["funded", "applied_to_payment"]
    assert txns[0].data.object.net_amount == -5000

    sandbox.client.v1.test_helpers.customers.fund_cash_balance(
        customer.id, params={"amount": 10050, "currency": "usd",
                             "reference": instructions.reference})
    assert payment_events(sandbox)[6:] == [
        "customer_cash_balance_transaction.created", "customer_cash_balance_transaction.created",
        "charge.succeeded", "payment_intent.succeeded",
        "checkout.session.async_payment_succeeded"]
    paid = sandbox.client.v1.payment_intents.retrieve(intent.id)
    assert paid.status == "succeeded" and paid.next_action is None
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_bank_transfer_overpaid_and_prefunded(sandbox: Sandbox, new_session: Any,
                                              customer: Any) -> None:
    sandbox.control(f"customers/{customer.id}/fund", {"amount": 20000})
    assert payment_events(sandbox)[-1] == "cash_balance.funds_available"
    session = new_session(bank_transfer=True)
    result = pay(sandbox, session.id, method="customer_balance")
    intent = sandbox.client.v1.payment_intents.retrieve(result["payment_intent"]["id"])
    assert intent.status == "succeeded"  # the cash balance already covered it
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    balance = sandbox.store.facts(customer.id)["cash_balance"]
    assert balance == {"usd": 20000 - 15050}


def test_expire_open_session(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    pay(sandbox, session.id, method="card", number="4000000000000002")
    expired = sandbox.client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    assert payment_events(sandbox)[-2:] == ["payment_intent.canceled",
                                            "checkout.session.expired"]
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client.v1.checkout.sessions.expire(session.id)
    sandbox.control(f"checkout/sessions/{session.id}/pay",
                    {"method": "card", "number": "4242424242424242"}, expect=400)


def test_completed_session_cannot_expire(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    pay(sandbox, session.id, method="card", number="4242424242424242")
    with pytest.raises(stripe.InvalidRequestError) as error:
        sandbox.client.v1.checkout.sessions.expire(session.id)
    assert error.value.http_status == 400


def test_sessions_expire_when_expires_at_passes(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session(expires_at=sandbox.store.now() + 3600)
    # The sandbox's clock runs on from real time: a minute's margin, so a slow machine (two
    # test workers) does not reach the deadline between these lines.
    sandbox.control("clock", {"advance": 3540})
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).status == "open"
    sandbox.control("clock", {"advance": 60})
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert payment_events(sandbox) == ["checkout.session.expired"]

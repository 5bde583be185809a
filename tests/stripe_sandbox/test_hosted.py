"""The hosted checkout pages, driven with plain HTTP form posts (no JavaScript needed)."""

from __future__ import annotations

from typing import Any

from tests.stripe_sandbox.conftest import Sandbox


def post(sandbox: Sandbox, path: str, **form: str) -> Any:
    return sandbox.http.post(f"{sandbox.url}{path}", data=form, allow_redirects=False)


def test_page_shows_items_total_and_methods(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session(bank_transfer=True)
    page = sandbox.http.get(session.url)
    assert page.status_code == 200 and "<script" not in page.text
    for text in ("Invoice INV-1", "120.00 USD", "30.50 USD", "150.50 USD", "Card number",
                 "Routing number", "Get bank transfer instructions",
                 'href="https://portal.test/i/tok"'):
        assert text in page.text, text
    assert page.text.count("<form") == 3


def test_card_success_redirects_to_success_url(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    response = post(sandbox, f"/checkout/{session.id}/pay", method="card",
                    number="4242 4242 4242 4242", exp="12 / 34", cvc="123", name="Jo",
                    email="jo@acme.test")
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"https://portal.test/i/tok/return?session={session.id}")
    done = sandbox.client.v1.checkout.sessions.retrieve(session.id)
    assert done.payment_status == "paid"
    assert (done.customer_details.email, done.customer_details.name) == ("jo@acme.test", "Jo")
    again = sandbox.http.get(session.url)
    assert "complete" in again.text


def test_declined_card_shows_error_and_allows_retry(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    response = post(sandbox, f"/checkout/{session.id}/pay", method="card",
                    number="4000000000009995", exp="12/34", cvc="123")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/checkout/{session.id}"
    page = sandbox.http.get(f"{sandbox.url}{response.headers['Location']}")
    assert "Your card has insufficient funds." in page.text
    assert 'id="pay-card"' in page.text
    assert "payment_intent.payment_failed" in sandbox.event_types()
    retry = post(sandbox, f"/checkout/{session.id}/pay", method="card",
                 number="4242424242424242", exp="12/34", cvc="123")
    assert retry.headers["Location"].startswith("https://portal.test/")


def test_form_mistakes_are_shown_with_the_form(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    for form, message in (({"number": "1234"}, "card number is incorrect"),
                          ({"number": "4242424242424242", "exp": "01/20"}, "in the past"),
                          ({"number": "4242424242424242", "exp": "1"}, "incomplete")):
        page = post(sandbox, f"/checkout/{session.id}/pay", method="card", **form)
        assert page.status_code == 400 and message in page.text
    assert sandbox.event_types() == ["customer.created"]


def test_three_d_secure_pages(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    response = post(sandbox, f"/checkout/{session.id}/pay", method="card",
                    number="4000002500003155", exp="12/34", cvc="123")
    assert response.headers["Location"] == f"{sandbox.url}/checkout/{session.id}/authenticate"
    page = sandbox.http.get(response.headers["Location"])
    assert "Complete" in page.text and "Fail" in page.text
    failed = post(sandbox, f"/checkout/{session.id}/authenticate", result="fail")
    assert failed.headers["Location"] == f"/checkout/{session.id}"
    assert "failed authentication" in sandbox.http.get(session.url).text
    post(sandbox, f"/checkout/{session.id}/pay", method="card", number="4000002500003155",
         exp="12/34", cvc="123")
    assert "waiting for authentication" in sandbox.http.get(session.url).text
    done = post(sandbox, f"/checkout/{session.id}/authenticate", result="complete")
    assert done.headers["Location"].startswith("https://portal.test/i/tok/return")
    assert sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_bank_account(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    wrong = post(sandbox, f"/checkout/{session.id}/pay", method="us_bank_account",
                 routing_number="110000000", account_number="123")
    assert wrong.status_code == 400 and "test account numbers" in wrong.text
    response = post(sandbox, f"/checkout/{session.id}/pay", method="us_bank_account",
                    routing_number="110000000", account_number="000123456789",
                    account_type="checking", verification="instant", name="Acme AP")
    assert response.status_code == 303
    intent_id = sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_intent
    assert sandbox.client.v1.payment_intents.retrieve(intent_id).status == "processing"


def test_microdeposit_page(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    post(sandbox, f"/checkout/{session.id}/pay", method="us_bank_account",
         routing_number="110000000", account_number="000123456789",
         verification="microdeposits")
    intent = sandbox.client.v1.payment_intents.retrieve(
        sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    url = intent.next_action.verify_with_microdeposits.hosted_verification_url
    wrong = sandbox.http.post(url, data={"amount1": "1", "amount2": "2"})
    assert "do not match" in wrong.text
    right = sandbox.http.post(url, data={"amount1": "32", "amount2": "45"})
    assert "verified" in right.text
    assert sandbox.client.v1.payment_intents.retrieve(intent.id).status == "processing"


def test_bank_transfer_instructions(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session(bank_transfer=True)
    response = post(sandbox, f"/checkout/{session.id}/pay", method="customer_balance")
    assert response.status_code == 303
    intent = sandbox.client.v1.payment_intents.retrieve(
        sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    details = intent.next_action.display_bank_transfer_instructions
    page = sandbox.http.get(details.hosted_instructions_url)
    assert details.reference in page.text
    assert details.financial_addresses[0].aba.account_number in page.text


def test_expired_and_unknown_sessions(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    sandbox.client.v1.checkout.sessions.expire(session.id)
    page = sandbox.http.get(f"{sandbox.url}/checkout/{session.id}")
    assert page.status_code == 410 and "expired" in page.text
    paying = post(sandbox, f"/checkout/{session.id}/pay", method="card",
                  number="4242424242424242")
    assert paying.status_code == 303
    assert sandbox.http.get(f"{sandbox.url}/checkout/cs_test_nope").status_code == 404
    assert sandbox.http.get(f"{sandbox.url}/nowhere").status_code == 404


def test_public_url_config(new_session: Any, sandbox: Sandbox) -> None:
    sandbox.app.config["SANDBOX_PUBLIC_URL"] = "https://sandbox.example/"
    session = new_session()
    assert session.url == f"https://sandbox.example/checkout/{session.id}"

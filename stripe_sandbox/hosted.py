"""The hosted pages a payer sees: Checkout (card, US bank account, bank transfer), the 3-D
Secure authenticate step, bank transfer instructions and microdeposit verification.
Server-rendered, plain forms, no JavaScript."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request

from stripe_sandbox import errors, paying, settlement
from stripe_sandbox.api import base_url, store
from stripe_sandbox.money import display
from stripe_sandbox.testdata import BANK_ACCOUNTS, CARDS, TEST_ROUTING_NUMBER

bp = Blueprint("hosted", __name__, template_folder="templates")
METHOD_NAMES = {"card": "Card", "us_bank_account": "US bank account",
                "customer_balance": "Bank transfer"}


def _session(session_id: str) -> dict[str, Any] | None:
    state = store()
    settlement.tick(state)
    return state.objects["checkout.session"].get(session_id)


def _message(title: str, text: str, status: int = 200,
             link: tuple[str, str] | None = None) -> tuple[str, int]:
    return render_template("message.html", title=title, text=text, link=link), status


def _page(session: dict[str, Any], error: str | None = None, status: int = 200,
          form: dict[str, Any] | None = None) -> tuple[str, int]:
    state = store()
    intent = state.objects["payment_intent"].get(session["payment_intent"] or "")
    if error is None and intent and intent["status"] == "requires_payment_method":
        error = (intent["last_payment_error"] or {}).get("message")
    pending_auth = bool(intent and intent["status"] == "requires_action"
                        and (intent["next_action"] or {}).get("type") == "redirect_to_url")
    bank = session["payment_method_options"].get("us_bank_account", {})
    return render_template(
        "checkout.html", session=session, error=error, form=form or {},
        items=state.facts(session["id"])["line_items"], display=display,
        methods=METHOD_NAMES, pending_auth=pending_auth, cards=CARDS,
        accounts=BANK_ACCOUNTS, routing=TEST_ROUTING_NUMBER,
        verification=bank.get("verification_method", "automatic")), status


@bp.get("/checkout/<session_id>")
def checkout_page(session_id: str) -> Any:
    """The checkout page, or why it can no longer be paid."""
    with store().lock:
        session = _session(session_id)
        if session is None:
            return _message("Not found", "There is no such Checkout Session.", 404)
        if session["status"] == "complete":
            return _message("Payment received", "This Checkout Session is complete.",
                            link=(paying.success_redirect(session), "Continue"))
        if session["status"] == "expired":
            link = (session["cancel_url"], "Return") if session["cancel_url"] else None
            return _message("Session expired", "This Checkout Session has expired.", 410,
                            link)
        return _page(session)


@bp.post("/checkout/<session_id>/pay")
def pay(session_id: str) -> Any:
    """Submit one of the payment forms."""
    form = request.form.to_dict()
    with store().lock:
        session = _session(session_id)
        if session is None:
            return _message("Not found", "There is no such Checkout Session.", 404)
        try:
            outcome = paying.pay(store(), session, form.get("method", ""), form, base_url())
        except paying.PaymentFormError as exc:
            if session["status"] != "open":
                return redirect(f"/checkout/{session_id}", 303)
            return _page(session, str(exc), 400, form)
    if outcome.status == "declined":
        return redirect(f"/checkout/{session_id}", 303)
    return redirect(outcome.redirect or f"/checkout/{session_id}", 303)


@bp.get("/checkout/<session_id>/authenticate")
def authenticate_page(session_id: str) -> Any:
    """The 3-D Secure challenge: "Complete" or "Fail"."""
    with store().lock:
        session = _session(session_id)
        if session is None:
            return _message("Not found", "There is no such Checkout Session.", 404)
        intent = store().objects["payment_intent"].get(session["payment_intent"] or "")
        if not intent or intent["status"] != "requires_action":
            return redirect(f"/checkout/{session_id}", 303)
        return render_template("authenticate.html", session=session, intent=intent,
                               display=display)


@bp.post("/checkout/<session_id>/authenticate")
def authenticate(session_id: str) -> Any:
    """The payer's answer to the 3-D Secure challenge."""
    with store().lock:
        session = _session(session_id)
        if session is None:
            return _message("Not found", "There is no such Checkout Session.", 404)
        try:
            outcome = paying.authenticate(store(), session,
                                          request.form.get("result") == "complete")
        except paying.PaymentFormError:
            return redirect(f"/checkout/{session_id}", 303)
    return redirect(outcome.redirect or f"/checkout/{session_id}", 303)


@bp.get("/bank_transfer/<intent_id>")
def instructions(intent_id: str) -> Any:
    """Bank transfer instructions (the intent's ``hosted_instructions_url``)."""
    with store().lock:
        intent = store().objects["payment_intent"].get(intent_id)
        action = (intent or {}).get("next_action") or {}
        if action.get("type") != "display_bank_transfer_instructions":
            return _message("Nothing to transfer", "This payment does not wait for a bank "
                            "transfer.", 404)
        return render_template("instructions.html", intent=intent, display=display,
                               details=action["display_bank_transfer_instructions"])


@bp.route("/verify/<intent_id>", methods=["GET", "POST"])
def verify(intent_id: str) -> Any:
    """Microdeposit verification (the intent's ``hosted_verification_url``)."""
    with store().lock:
        intent = store().objects["payment_intent"].get(intent_id)
        if intent is None:
            return _message("Not found", "There is no such payment.", 404)
        error = None
        if request.method == "POST":
            amounts = [request.form.get("amount1", ""), request.form.get("amount2", "")]
            code = request.form.get("descriptor_code") or None
            try:
                numbers = [int(a) for a in amounts if a.strip()]
                settlement.verify_microdeposits(store(), intent, numbers or None, code)
                return _message("Bank account verified", "Thank you. The payment is now "
                                "processing.")
            except ValueError:
                error = "Enter the two amounts in cents."
            except errors.StripeError as exc:
                error = exc.message
        waiting = (intent["next_action"] or {}).get("type") == "verify_with_microdeposits"
        return render_template("verify.html", intent=intent, error=error, waiting=waiting)


def not_found(exc: Exception) -> Response | tuple[str, int]:
    """A plain page for unknown hosted URLs."""
    return _message("Not found", "This page does not exist.", 404)

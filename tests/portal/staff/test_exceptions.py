"""The exceptions queue through the console's views, with real payments reconciled into the real
ledger: the list and its filters, each exception's page, every action with its audit entry,
refusals shown as form errors with the form kept, and double submits that change nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from payments.ledger.models import ReconciliationException
from payments.resolutions.models import CustomerCredit
from payments.stripe.errors import StripeRefused, StripeUnavailable
from tests.ledger_world import World
from tests.portal.staff.test_queues import CLERK, audit_entries, followed, text_of
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def staff(app, db):
    """Logged-in clients for a clerk and a viewer."""
    for role in ("clerk", "viewer"):
        make_staff(db, f"{role}@acme.example", role)
    return {role: logged_in(app, f"{role}@acme.example") for role in ("clerk", "viewer")}


# --- the exceptions queue -----------------------------------------------------------------------


def _overpaid(world: World, second: int = 6000) -> tuple[int, int]:
    """Invoice A (100.00) paid in full, then ``second`` more: (invoice id, exception id)."""
    a = world.invoice("A", 10000)
    world.pay("pi_1", 10000, world.attempt([(a, 10000)]))
    world.pay("pi_2", second, world.attempt([(a, second)]))
    return a, world.exception("overpayment")


def _exception(db, exception_id: int) -> ReconciliationException:
    with db.reader() as session:
        return session.get(ReconciliationException, exception_id)


def test_the_list_shows_open_exceptions_filtered_by_kind_and_resolved_ones_on_request(
        world, staff):
    _a, over = _overpaid(world)
    world.pay("pi_stray", 700)
    stray = world.exception("unmatched_payment")
    post(staff["clerk"], f"/staff/exceptions/{stray}/dismiss", reason="bank test charge")
    listed = text_of(staff["viewer"].get("/staff/exceptions"))
    assert f'href="/staff/exceptions/{over}">View</a>' in listed and "$60.00" in listed
    assert f"/staff/exceptions/{stray}\"" not in listed
    assert f"/staff/exceptions/{over}\"" not in text_of(
        staff["viewer"].get("/staff/exceptions?kind=unmatched_payment"))
    resolved = text_of(staff["viewer"].get("/staff/exceptions?status=resolved"))
    assert f"/staff/exceptions/{stray}\"" in resolved and f"by {CLERK}" in resolved
    assert f"/staff/exceptions/{over}\"" not in resolved
    clerk = text_of(staff["clerk"].get("/staff/exceptions?status=all&kind=nonsense"))
    assert f'href="/staff/exceptions/{over}">Resolve</a>' in clerk and f"/{stray}\"" in clerk


def test_an_unmatched_payment_is_applied_to_a_suggested_invoice_once(world, staff, db):
    j = world.invoice("INV-77", 3850)
    world.pay("pi_stray", 3850, description="Payment for INV-77")
    exc = world.exception("unmatched_payment")
    page = text_of(staff["clerk"].get(f"/staff/exceptions/{exc}"))
    assert re.search(rf'value="{j}" checked> INV-77 · owes \$38.50', page)
    assert "Left to move</dt><dd>$38.50" in page and "pi_stray" in page
    done = followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc}/apply",
                                        invoice_id=str(j)))
    assert f"Exception #{exc} resolved: apply to invoice." in done
    assert f"apply to invoice by {CLERK}" in done and 'id="apply"' not in done
    assert world.paid(j) == [3850]
    [entry] = audit_entries(db, "exception.apply_to_invoice")
    assert (entry.target_type, entry.target_id, entry.actor) == (
        "reconciliation_exception", str(exc), CLERK)
    assert entry.before["resolved_at"] is None and entry.before["resolution"] is None
    assert entry.after["resolution"]["allocations"] == [{"invoice_id": j, "amount": 3850}]
    assert entry.after["ledger_entry_ids"]
    again = post(staff["clerk"], f"/staff/exceptions/{exc}/apply", invoice_id=str(j))
    assert again.status_code == 422 and "already resolved (apply_to_invoice)" in text_of(again)
    assert len(audit_entries(db, "exception.apply_to_invoice")) == 1 and world.paid(j) == [3850]
    world.verify()


def test_part_applied_to_a_typed_invoice_leaves_the_rest_in_a_follow_up(world, staff):
    k = world.invoice("K-1", 3000)
    world.pay("pi_stray", 5000)
    exc = world.exception("unmatched_payment")
    done = followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc}/apply",
                                        invoice_number=" K-1 ", amount="20.00"))
    follow = world.exception("unmatched_payment")
    assert f"What is left is in exception #{follow}." in done
    assert f'href="/staff/exceptions/{follow}">exception #{follow}</a> ($30.00)' in done
    assert world.paid(k) == [2000]
    page = text_of(staff["clerk"].get(f"/staff/exceptions/{follow}"))
    assert re.search(rf'value="{k}" checked> K-1 · owes \$10.00', page)  # same customer now
    followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{follow}/apply",
                                 invoice_id=str(k)))  # blank amount: what K-1 still owes
    assert world.paid(k) == [3000]
    assert world.exception("unmatched_payment") not in (exc, follow)  # 20.00 still to place
    world.verify()


@pytest.mark.parametrize("form, message", [
    ({"invoice_number": "NOPE"}, "No open USD invoice is numbered &#39;NOPE&#39;."),
    ({"invoice_number": "J", "amount": "12.345"},
     "Amount: USD amounts have 2 decimal places at most."),
    ({"invoice_number": "J", "amount": "-1"}, "Amount: Enter an amount like 125.50."),
    ({"invoice_number": "J", "amount": "31.00"}, "Invoice J owes $30.00, less than $31.00."),
    ({"invoice_id": "999"}, "Choose one of the suggested invoices, or type an invoice number."),
])
def test_apply_refusals_are_form_errors_with_the_form_kept(world, staff, form, message):
    world.invoice("J", 3000)
    world.pay("pi_stray", 5000)
    exc = world.exception("unmatched_payment")
    response = post(staff["clerk"], f"/staff/exceptions/{exc}/apply", **form)
    assert response.status_code == 422
    assert f'<p class="error" role="alert">{message}</p>' in text_of(response)
    if "amount" in form:
        assert f'name="amount" inputmode="decimal" value="{form["amount"]}"' in text_of(response)
    assert _exception(world.db, exc).resolved_at is None


def test_an_overpayment_kept_as_customer_credit(world, staff, db):
    a, exc = _overpaid(world)
    followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc}/credit"))
    assert world.paid(a) == [10000]
    with db.reader() as session:
        credit = session.scalar(select(CustomerCredit))
    assert (credit.amount, credit.currency, credit.created_by) == (6000, "USD", CLERK)
    [entry] = audit_entries(db, "exception.keep_as_credit")
    assert entry.after["resolution"]["credit_id"] == credit.id
    world.verify()


def test_a_small_overpayment_written_off_within_the_limit(app, world, staff, db):
    a, exc = _overpaid(world, second=3)
    page = text_of(staff["clerk"].get(f"/staff/exceptions/{exc}"))
    assert 'value="0.03"' in page and "at most $5.00" in page
    app.config["PORTAL_WRITE_OFF_MAX"] = 2
    refused = post(staff["clerk"], f"/staff/exceptions/{exc}/write-off")
    assert refused.status_code == 422
    assert "$0.03 is more than the $0.02 a write-off may be." in text_of(refused)
    app.config["PORTAL_WRITE_OFF_MAX"] = {"USD": 100}
    followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc}/write-off"))
    assert world.paid(a) == [10000]
    [entry] = audit_entries(db, "exception.write_off")
    assert entry.after["resolution"] == {"action": "write_off", "amount": 3}
    world.verify()


def test_dismiss_needs_a_reason(world, staff, db):
    world.pay("pi_stray", 700)
    exc = world.exception("unmatched_payment")
    blank = post(staff["clerk"], f"/staff/exceptions/{exc}/dismiss", reason="  ")
    assert blank.status_code == 422 and "Say why the exception is dismissed." in text_of(blank)
    done = followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc}/dismiss",
                                        reason="bank <test> charge"))
    assert "dismiss by clerk@acme.example" in done and "“bank &lt;test&gt; charge”" in done
    assert audit_entries(db, "exception.dismiss")[0].after["resolution"]["reason"] == \
        "bank <test> charge"


def test_an_action_that_does_not_fit_the_kind_is_not_offered_and_is_refused(world, staff):
    world.pay("pi_stray", 700)
    exc = world.exception("unmatched_payment")
    page = text_of(staff["clerk"].get(f"/staff/exceptions/{exc}"))
    assert 'id="write-off"' not in page and 'id="credit"' in page
    response = post(staff["clerk"], f"/staff/exceptions/{exc}/write-off", amount="1.00")
    assert response.status_code == 422
    assert "Write off does not resolve an unmatched payment exception." in text_of(response)
    no_customer = post(staff["clerk"], f"/staff/exceptions/{exc}/credit")
    assert no_customer.status_code == 422 and "No customer is known" in text_of(no_customer)


def test_viewers_read_exceptions_without_the_forms_and_unknown_ones_are_404(world, staff):
    world.pay("pi_stray", 700)
    exc = world.exception("unmatched_payment")
    page = text_of(staff["viewer"].get(f"/staff/exceptions/{exc}"))
    assert "Exception #" in page and "<form method=\"post\" action=\"/staff/exceptions" \
        not in page
    assert staff["viewer"].get("/staff/exceptions/999").status_code == 404
    for action in ("apply", "refund", "credit", "write-off", "dismiss"):
        assert post(staff["clerk"], f"/staff/exceptions/999/{action}",
                    reason="x").status_code == 404


# --- refunds (the real Stripe call: tests/browser/test_staff_console.py) ------------------------


class FakeStripe:
    """Stands in for the Stripe boundary's ``create_refund``, failing on demand."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, str]] = []
        self.fail: Exception | None = None

    def create_refund(self, params: dict, idempotency_key: str) -> dict:
        self.calls.append((params, idempotency_key))
        if self.fail is not None:
            raise self.fail
        return {"id": f"re_{len(self.calls)}", "status": "pending"}


@pytest.fixture
def gateway(app) -> FakeStripe:
    fake = FakeStripe()
    app.extensions["portal.stripe"] = fake
    return fake


def test_a_refund_is_sent_once_and_audited_step_by_step(world, staff, db, gateway):
    _a, exc = _overpaid(world)
    page = text_of(staff["clerk"].get(f"/staff/exceptions/{exc}"))
    assert re.search(r'id="refund">.*?value="60.00"', page, re.S)  # default: the excess
    done = followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc}/refund",
                                        amount="20.00"))
    assert "refund <code>re_1</code> of $20.00" in done
    assert gateway.calls == [({"payment_intent": "pi_2", "amount": 2000,
                               "metadata": {"portal_exception": str(exc)}},
                              f"portal-exception-{exc}-refund-2000")]
    assert _exception(db, exc).refund_id == "re_1"
    [asked] = audit_entries(db, "exception.refund_request")
    assert asked.before["resolution"] is None and asked.after["resolution"]["amount"] == 2000
    assert audit_entries(db, "exception.refund")[0].after["resolution"]["refund_id"] == "re_1"
    follow = world.exception("overpayment")
    assert f"What is left is in exception #{follow}." in done
    again = post(staff["clerk"], f"/staff/exceptions/{exc}/refund", amount="20.00")
    assert again.status_code == 422 and "already resolved" in text_of(again)
    assert len(gateway.calls) == 1


def test_a_refund_stripe_refuses_leaves_the_exception_open(world, staff, db, gateway):
    world.pay("pi_stray", 700)
    exc = world.exception("unmatched_payment")
    gateway.fail = StripeRefused("Charge ch_x has already been refunded.")
    response = post(staff["clerk"], f"/staff/exceptions/{exc}/refund")
    assert response.status_code == 422
    assert "Stripe refused the refund: " in text_of(response)
    assert "has already been refunded" in text_of(response)
    found = _exception(db, exc)
    assert (found.resolved_at, found.resolution) == (None, None)
    [refused] = audit_entries(db, "exception.refund_refused")
    assert refused.after["resolution"] is None and "already been refunded" in \
        refused.after["stripe_error"]


def test_stripe_unreachable_keeps_the_refund_to_retry_with_the_same_key(world, staff, gateway):
    world.pay("pi_stray", 700)
    exc = world.exception("unmatched_payment")
    gateway.fail = StripeUnavailable("connection refused")
    response = post(staff["clerk"], f"/staff/exceptions/{exc}/refund", amount="5.00")
    assert response.status_code == 502 and "Retry the same amount" in text_of(response)
    page = text_of(staff["clerk"].get(f"/staff/exceptions/{exc}"))
    assert "Refund in progress" in page and "Retry refund" in page and 'id="dismiss"' not in page
    other = post(staff["clerk"], f"/staff/exceptions/{exc}/refund", amount="7.00")
    assert other.status_code == 422 and "retry that amount" in text_of(other)
    gateway.fail = None
    followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc}/refund"))
    assert [key for _params, key in gateway.calls] == [
        f"portal-exception-{exc}-refund-500"] * 2  # the blank retry took the pending amount
    assert _exception(world.db, exc).refund_id == "re_2"


def test_refunds_need_stripe_configured(app, world, staff):
    app.extensions.pop("portal.stripe", None)
    world.pay("pi_stray", 700)
    exc = world.exception("unmatched_payment")
    response = post(staff["clerk"], f"/staff/exceptions/{exc}/refund")
    assert response.status_code == 422 and "STRIPE_SECRET_KEY is not set" in text_of(response)


def test_an_exception_without_a_payment_is_shown_and_refused_clearly(world, staff, db):
    with db.transaction() as session:  # written by hand, outside reconciliation
        exc = ReconciliationException(kind="unmatched_payment", cause="manual:1")
        session.add(exc)
    assert staff["clerk"].get(f"/staff/exceptions/{exc.id}").status_code == 200
    for action, form in (("credit", {}), ("apply", {"invoice_number": "X"}),
                         ("write-off", {"amount": "1"})):
        response = post(staff["clerk"], f"/staff/exceptions/{exc.id}/{action}", **form)
        assert response.status_code == 422, action
    response = post(staff["clerk"], f"/staff/exceptions/{exc.id}/credit")
    assert f"Exception #{exc.id} has no payment to move money from." in text_of(response)
    assert followed(staff["clerk"], post(staff["clerk"], f"/staff/exceptions/{exc.id}/dismiss",
                                         reason="entered by mistake"))

"""The console's Background work page: what the queue holds, what is not applied yet, the
failed events and undelivered emails with their errors, and "retry now" (clerks), audited."""

from __future__ import annotations

import json
import time

from aiosmtpd.controller import Controller
from sqlalchemy import update

from payments.events import event_store
from payments.events.models import EventFailure, StripeEvent
from payments.outbox.models import OutboxEmail
from tests.conftest import Api
from tests.mailbox import Inbox, emailed_url, free_port, outbox_rows
from tests.portal.staff.test_queues import audit_entries, text_of
from tests.staff_helpers import logged_in, make_staff, post

SECRET = "whsec_background"


def _deliver(client, event_id: str, type_: str = "payment_intent.succeeded") -> None:
    event = {"id": event_id, "object": "event", "type": type_, "created": int(time.time()),
             "data": {"object": {"id": "pi_bg", "object": "payment_intent"}}}
    body = json.dumps(event).encode()
    response = client.post("/stripe/webhook", data=body, content_type="application/json",
                           headers={"Stripe-Signature": event_store.sign(body, SECRET)})
    assert response.status_code == 200


def test_the_page_shows_the_backlog_and_each_failed_event_with_its_error(app_factory, db):
    # No STRIPE_SECRET_KEY: every event that needs Stripe fails, as during an outage.
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET)
    _deliver(app.test_client(), "evt_bg_1")
    make_staff(db, "viewer@acme.example", "viewer")
    viewer = logged_in(app, "viewer@acme.example")
    page = text_of(viewer.get("/staff/background"))
    assert '<span class="figure">1</span> Stripe event not applied yet' in page
    assert "evt_bg_1" in page and "payment_intent.succeeded" in page
    assert "AttributeError" in page  # the handler's error, as recorded
    assert "Retry now" not in page  # viewers read only
    assert "events-sweep" in page and "stripe-sync" in page
    assert "Stripe event(s) failed to apply" in text_of(viewer.get("/staff/"))


def test_a_clerk_retries_a_failed_event_and_it_is_audited(app_factory, db):
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET)
    _deliver(app.test_client(), "evt_bg_2")
    make_staff(db, "clerk@acme.example", "clerk")
    clerk = logged_in(app, "clerk@acme.example")
    assert "Retry now" in text_of(clerk.get("/staff/background"))
    response = post(clerk, "/staff/background/events/evt_bg_2/retry")
    assert response.status_code == 303
    assert "evt_bg_2 is queued to be applied again" in text_of(
        clerk.get(response.headers["Location"]))
    with db.reader() as session:
        # Still no Stripe: the retry ran (immediately, in tests) and failed once more.
        assert session.get(EventFailure, "evt_bg_2").attempts == 2
        assert session.get(StripeEvent, "evt_bg_2").processed_at is None
    [entry] = audit_entries(db, "event.retry")
    assert (entry.target_type, entry.target_id) == ("stripe_event", "evt_bg_2")
    assert post(clerk, "/staff/background/events/evt_missing/retry").status_code == 404
    assert post(clerk, "/staff/background/events/" + "x" * 300 + "/retry").status_code == 404


def test_an_event_applied_meanwhile_is_not_retried(app_factory, db):
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET)
    _deliver(app.test_client(), "evt_bg_3", type_="invoice.created")  # no handler: applied
    make_staff(db, "clerk@acme.example", "clerk")
    clerk = logged_in(app, "clerk@acme.example")
    assert "No event is failing." in text_of(clerk.get("/staff/background"))
    assert post(clerk, "/staff/background/events/evt_bg_3/retry").status_code == 404


def test_an_undelivered_email_is_listed_and_a_clerk_sends_it_again(app_factory, api_key, db):
    port = free_port()
    app = app_factory(PORTAL_SMTP_URL=f"smtp://127.0.0.1:{port}")  # the relay is down
    for role in ("viewer", "clerk"):
        make_staff(db, f"{role}@acme.example", role)
    inv = Api(app.test_client(), api_key).create()
    viewer, clerk = (logged_in(app, f"{role}@acme.example") for role in ("viewer", "clerk"))
    post(clerk, f"/staff/invoices/{inv['id']}/link/email")
    with db.transaction() as session:  # the automatic retries ran out
        session.execute(update(OutboxEmail).values(status="failed", attempts=8))
    [email] = outbox_rows(db)
    page = text_of(viewer.get("/staff/background"))
    assert '<span class="figure">1</span> not delivered' in page
    assert "ap@northwind.example" in page and "Your link to invoice INV-0001" in page
    assert "ConnectionRefusedError" in page and "Retry now" not in page  # viewers read only
    assert "outbox-sweep" in page
    assert "not delivered" in text_of(clerk.get(f"/staff/invoices/{inv['id']}"))
    assert "1 customer email(s) not delivered" in text_of(viewer.get("/staff/"))

    handler = Inbox()
    relay = Controller(handler, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        assert "Retry now" in text_of(clerk.get("/staff/background"))
        response = post(clerk, f"/staff/background/emails/{email.id}/retry")
    finally:
        relay.stop()
    assert response.status_code == 303
    assert "is queued to be sent again" in text_of(clerk.get(response.headers["Location"]))
    [(recipients, message)] = handler.received
    assert recipients == ["ap@northwind.example"] and emailed_url(message) == inv["pay_url"]
    [entry] = audit_entries(db, "email.retry")
    assert (entry.target_type, entry.target_id) == ("email", str(email.id))
    assert outbox_rows(db)[0].status == "sent"
    # Sent: nothing left to retry (and an id that is no email is no page).
    assert post(clerk, f"/staff/background/emails/{email.id}/retry").status_code == 404
    assert post(clerk, "/staff/background/emails/999/retry").status_code == 404

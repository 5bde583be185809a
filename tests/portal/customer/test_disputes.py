"""Disputes from the invoice page, as the customer meets them: the form, its refusals (each a
422 with the field's message and nothing stored), the short-pay it allows, the thread, and
the walls between invoices (another token cannot read or write a dispute, or its files)."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from payments.disputes import reads
from payments.disputes.models import Dispute, DisputeAttachment, DisputeMessage
from payments.invoicing.amounts import AmountError, check_amount
from payments.invoicing.models import Invoice
from payments.outbox.models import OutboxEmail
from portal.customer import paying
from tests.conftest import Api, path_of
from tests.factories import invoice_body

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def multipart(client, url: str, token: str, files=(), **form):
    """POST a multipart form with files, encoded in memory (the test client would spool a
    large body to a temporary file it never closes)."""
    fields = MultiDict({"csrf_token": token, **form})
    for name, body in files:
        fields.add("files", FileStorage(io.BytesIO(body), filename=name))
    boundary, body = encode_multipart(fields)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def raise_dispute(client, path: str, files=(), token: str | None = None, **form):
    """POST the dispute form of the invoice page at ``path`` (token in it)."""
    return multipart(client, f"{path}/dispute", token or csrf(client, path), files, **form)


def counts(db) -> tuple[int, int, int]:
    with db.transaction() as s:
        return tuple(s.scalar(select(func.count()).select_from(t))
                     for t in (Dispute, DisputeMessage, DisputeAttachment))


@pytest.fixture
def page(api) -> str:
    return path_of(api.create()["pay_url"])


def test_a_customer_disputes_a_line_and_sees_it_on_the_page(client, db, page, tmp_path):
    response = raise_dispute(client, page, files=[("photo.png", PNG)], reason="quantity",
                             line="1", message="Only two widgets arrived")
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "we received your dispute" in html
    assert "The quantity is wrong" in html and "Only two widgets arrived" in html
    assert "Attached: photo.png" in html
    assert "$30.00 of this invoice is in dispute" in html  # the Widgets line
    with db.transaction() as s:
        dispute = s.scalars(select(Dispute)).one()
        assert (dispute.amount, dispute.status, [ln.position for ln in dispute.lines]) == \
            (3000, "open", [1])
        stored = s.scalars(select(DisputeAttachment)).one()
    assert stored.content_type == "image/png"
    assert (tmp_path / "attachments" / stored.stored_name).read_bytes() == PNG
    # The stored name is random and never shown to the customer.
    assert stored.stored_name not in html
    with db.reader() as s:
        (email,) = s.scalars(select(OutboxEmail)).all()
    assert (email.key, email.to_address) == (f"dispute-received:{dispute.id}",
                                             "ap@northwind.example")
    assert ("We received your dispute on invoice INV-0001: the quantity is wrong ($30.00 in "
            "dispute)") in email.body


def test_the_undisputed_part_is_what_the_pay_form_takes(app_factory, db, api_key):
    client = app_factory(STRIPE_SECRET_KEY="sk_test_x",
                         STRIPE_API_BASE="http://127.0.0.1:9").test_client()
    inv = Api(client, api_key).create()
    page = path_of(inv["pay_url"])
    raise_dispute(client, page, reason="damaged", line="2")  # Delivery, $5.00
    html = client.get(page).get_data(as_text=True)
    assert "Pay the undisputed $33.50" in html
    # Paying the whole invoice is refused on the server, whatever the browser sends.
    with db.transaction() as s:
        row = s.get(Invoice, inv["id"])
        payable = paying.payable(row, reads.active_amounts(s, [row.id])[row.id])
    assert check_amount(payable, None) == 3350
    with pytest.raises(AmountError):
        check_amount(payable, 3850)


@pytest.mark.parametrize(("form", "files", "field", "message"), [
    ({"reason": "", "line": "1"}, (), "reason", "Choose what is wrong"),
    ({"reason": "other"}, (), "message", "Tell us what is wrong"),
    ({"reason": "pricing", "amount": "38.51"}, (), "amount", "cannot be more than the $38.50"),
    ({"reason": "pricing", "amount": "abc"}, (), "amount", "Enter an amount like 125.50"),
    ({"reason": "pricing", "line": "9"}, (), "lines", "Choose lines of this invoice"),
    ({"reason": "damaged"}, [("invoice.pdf", b"MZ\x90\x00 not a pdf")], "files",
     "invoice.pdf is not a PDF, PNG or JPEG file"),
    ({"reason": "damaged"}, [("big.pdf", b"%PDF-" + b"0" * (4 * 1024 * 1024))], "files",
     "big.pdf is larger than 4 MB"),
    ({"reason": "damaged"}, [(f"f{i}.png", PNG) for i in range(4)], "files", "at most 3 files"),
])
def test_bad_input_is_refused_with_the_field_and_nothing_stored(client, db, page, tmp_path,
                                                                form, files, field, message):
    response = raise_dispute(client, page, files=files, **form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert f'id="err-{field}"' in html  # the message sits next to its field
    assert counts(db) == (0, 0, 0)
    assert not list((tmp_path / "attachments").glob("*"))


def test_a_paid_or_void_invoice_cannot_be_disputed(client, db, api):
    inv = api.create()
    page = path_of(inv["pay_url"])
    token = csrf(client, page)
    assert api.post(f"/invoices/{inv['id']}/void").status_code == 200
    assert 'action="' + page + '/dispute"' not in client.get(page).get_data(as_text=True)
    response = raise_dispute(client, page, token=token, reason="pricing")
    assert response.status_code == 422
    assert "This invoice is void" in response.get_data(as_text=True)
    assert counts(db) == (0, 0, 0)


def test_one_dispute_at_a_time_and_the_thread_takes_messages(client, db, page):
    assert raise_dispute(client, page, reason="pricing").status_code == 303
    again = raise_dispute(client, page, reason="tax")
    assert again.status_code == 422
    assert "already in dispute" in again.get_data(as_text=True)
    with db.transaction() as s:
        dispute_id = s.scalar(select(Dispute.id))
    url = f"{page}/dispute/{dispute_id}/message"
    sent = multipart(client, url, csrf(client, page), [("note.pdf", PDF)], message="Any news?")
    assert sent.status_code == 303
    html = client.get(page).get_data(as_text=True)
    assert "Any news?" in html and "Attached: note.pdf" in html
    empty = client.post(url, data={"csrf_token": csrf(client, page), "message": "  "})
    assert empty.status_code == 422
    assert counts(db) == (1, 2, 1)


def test_another_invoice_link_cannot_touch_this_dispute(client, db, api, page):
    other = path_of(api.create(**invoice_body(external_id="ERP-2", number="INV-2",
                                              customer={"external_id": "C-2",
                                                        "name": "Someone Else"}))["pay_url"])
    raise_dispute(client, page, reason="pricing", message="secret words")
    with db.transaction() as s:
        dispute_id = s.scalar(select(Dispute.id))
    assert "secret words" not in client.get(other).get_data(as_text=True)
    response = client.post(f"{other}/dispute/{dispute_id}/message",
                           data={"csrf_token": csrf(client, other), "message": "hijack"})
    assert response.status_code == 404
    assert client.get(f"{other}/credit-notes/1/pdf").status_code == 404
    assert counts(db)[1] == 1


def test_the_forms_need_the_csrf_token(client, db, page):
    response = client.post(f"{page}/dispute", data={"reason": "pricing"})
    assert response.status_code == 400
    assert counts(db) == (0, 0, 0)


def test_disputes_are_rate_limited_per_address(app_factory, api_key, db):
    client = app_factory(PORTAL_DISPUTE_RATE_LIMIT="2 per hour").test_client()
    page = path_of(Api(client, api_key).create()["pay_url"])
    statuses = [raise_dispute(client, page, reason="").status_code for _ in range(3)]
    assert statuses == [422, 422, 429]


def test_files_over_the_request_room_get_the_form_again_with_the_reason(client, db, page):
    big = b"%PDF-" + b"0" * (3 * 1024 * 1024 + 512 * 1024)  # 3.5 MB each, 4 of them
    response = raise_dispute(client, page, files=[(f"f{i}.pdf", big) for i in range(4)],
                             reason="damaged")
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "The files are too large: attach at most 3 files of 4 MB" in html
    assert counts(db) == (0, 0, 0)

"""``GET /api/v1/disputes`` and ``/api/v1/credit-notes``: disputes raised and resolved through
the core, read back by the ERP, filtered and paged like the invoices list, every response
matching the OpenAPI document, and never a staff-only note in them."""

from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import event

from payments.disputes import raising, resolving
from payments.disputes.attachments import AttachmentStore, Upload
from payments.disputes.models import OUTCOMES, REASONS, STATUSES
from payments.staff.audit import CLI
from tests.conftest import Api
from tests.portal.api.test_openapi import assert_documented, response_schema, validator

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
NOTE = "internal only: the customer is on credit watch"


@pytest.fixture
def doc(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def invoice(api: Api, n: int, customer: str = "CUST-1") -> dict:
    """A fresh open invoice ``ERP-n`` of ``customer`` (3850 in two lines and tax)."""
    return api.create(external_id=f"ERP-{n}", number=f"INV-{n}",
                      customer={"external_id": customer, "name": f"Name of {customer}"})


def raise_on(db, tmp_path, invoice_id: int, files=(), **form) -> int:
    """Raise a dispute on the invoice as its customer would; its id."""
    form = {"reason": "quantity", "positions": (1,), "message": "two missing", **form}
    with db.transaction() as s:
        return raising.raise_dispute(s, invoice_id, raising.Raise(**form, files=tuple(files)),
                                     AttachmentStore(tmp_path / "files"), []).id


def credit(db, dispute_id: int) -> int:
    """Resolve the dispute with a credit note for the whole amount; the note's id."""
    with db.transaction() as s:
        return resolving.credit(s, CLI, dispute_id, (), "", "agreed").credit_note.id


def seed_disputes(api: Api, db, tmp_path) -> dict[str, int]:
    """Two disputes, one open (with a file and a staff-only note), one credited; the ids.
    Also seeds the fuzz test (tests/portal/api/test_fuzz.py)."""
    open_id = raise_on(db, tmp_path, invoice(api, 101)["id"],
                       files=[Upload("photo.png", PNG)])
    with db.transaction() as s:
        resolving.note(s, CLI, open_id, NOTE)
    credited = raise_on(db, tmp_path, invoice(api, 102)["id"], reason="pricing", positions=())
    return {"open": open_id, "credited": credited, "note": credit(db, credited)}


# --- one dispute, one credit note -------------------------------------------------------------


def test_a_dispute_with_its_thread_and_files_but_not_staff_notes(api: Api, db, tmp_path, doc):
    inv = invoice(api, 1)
    dispute_id = raise_on(db, tmp_path, inv["id"], files=[Upload("../photo.exe", PNG)])
    with db.transaction() as s:
        resolving.reply(s, CLI, dispute_id, "We are counting them")
        resolving.note(s, CLI, dispute_id, NOTE)
    response = api.get(f"/disputes/{dispute_id}")
    assert response.status_code == 200
    assert_documented(doc, "/disputes/{id}", "get", response)
    body = response.get_json()
    assert NOTE not in response.get_data(as_text=True)
    assert {k: body[k] for k in ("id", "status", "outcome", "reason", "reason_text",
                                 "currency", "amount", "resolution")} == {
        "id": dispute_id, "status": "under_review", "outcome": None, "reason": "quantity",
        "reason_text": REASONS["quantity"], "currency": "USD", "amount": 3000,
        "resolution": None}
    assert body["invoice"] == {"id": inv["id"], "external_id": "ERP-1", "number": "INV-1"}
    assert body["customer"] == {"id": inv["customer"]["id"], "external_id": "CUST-1",
                                "name": "Name of CUST-1"}
    assert body["lines"] == [{"position": 1, "description": "Widgets", "amount": 3000}]
    assert [(m["from"], m["author"], m["body"]) for m in body["messages"]] == [
        ("customer", None, "two missing"), ("staff", "cli", "We are counting them")]
    assert all(m["created_at"].endswith("Z") for m in body["messages"])
    [file] = body["attachments"]
    assert {k: file[k] for k in ("filename", "content_type", "size")} == {
        "filename": "photo.png", "content_type": "image/png", "size": len(PNG)}
    assert len(file["sha256"]) == 64


def test_a_credited_dispute_and_its_credit_note(api: Api, db, tmp_path, doc):
    inv = invoice(api, 1)
    dispute_id = raise_on(db, tmp_path, inv["id"])
    note_id = credit(db, dispute_id)
    dispute = api.get(f"/disputes/{dispute_id}").get_json()
    assert (dispute["status"], dispute["outcome"]) == ("resolved", "credited")
    resolution = dispute["resolution"]
    assert resolution["credit_note_id"] == note_id
    assert (resolution["outcome_note"], resolution["resolved_by"]) == ("agreed", "cli")
    assert resolution["resolved_at"].endswith("Z")
    response = api.get(f"/credit-notes/{note_id}")
    assert_documented(doc, "/credit-notes/{id}", "get", response)
    note = response.get_json()
    assert {k: note[k] for k in ("id", "number", "currency", "amount", "reason", "lines",
                                 "dispute_id", "created_by", "pdf_url")} == {
        "id": note_id, "number": f"CN-{note_id:06d}", "currency": "USD", "amount": 3000,
        "reason": "agreed", "lines": [], "dispute_id": dispute_id, "created_by": "cli",
        "pdf_url": f"https://portal.test/api/v1/credit-notes/{note_id}/pdf"}
    assert note["invoice"]["number"] == "INV-1"
    assert note["customer"]["external_id"] == "CUST-1"
    assert api.get(f"/invoices/{inv['id']}").get_json()["amount_due"] == 850


def test_the_credit_note_pdf(api: Api, db, tmp_path):
    inv = invoice(api, 1)
    with db.transaction() as s:
        dispute_id = raising.raise_dispute(
            s, inv["id"], raising.Raise(reason="damaged", positions=(1, 2)),
            AttachmentStore(tmp_path), []).id
    with db.transaction() as s:
        note = resolving.credit(s, CLI, dispute_id, (2,), "", "delivery refunded").credit_note
    body = api.get(f"/credit-notes/{note.id}").get_json()
    assert body["lines"] == [{"description": "Delivery", "amount": 500}]
    response = api.get(f"/credit-notes/{note.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f"credit-note-{note.number}.pdf" in response.headers["Content-Disposition"]
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert note.number in text and "INV-1" in text


@pytest.mark.parametrize("outcome", ["adjusted", "rejected"])
def test_adjusted_and_rejected_resolutions(api: Api, db, tmp_path, doc, outcome):
    dispute_id = raise_on(db, tmp_path, invoice(api, 1)["id"])
    today = date.today()
    later = today + timedelta(days=60)
    with db.transaction() as s:
        if outcome == "adjusted":
            resolving.adjust(s, CLI, dispute_id, "20.00", later.isoformat(), "halved", today)
        else:
            resolving.reject(s, CLI, dispute_id, "all were delivered", later.isoformat(), today)
    response = api.get(f"/disputes/{dispute_id}")
    assert_documented(doc, "/disputes/{id}", "get", response)
    body = response.get_json()
    assert body["outcome"] == outcome
    resolution = body["resolution"]
    assert resolution["new_due_date"] == later.isoformat()
    assert resolution["credit_note_id"] is None
    assert resolution["new_amount_due"] == (2000 if outcome == "adjusted" else None)
    assert api.get("/credit-notes").get_json()["data"] == []


# --- lists: filters, pages, errors ------------------------------------------------------------


def _world(api: Api, db, tmp_path) -> dict[str, int]:
    """a: open (CUST-1), b: credited (CUST-2), c: under review (CUST-1), d: credited
    (CUST-1); the ids of disputes, their invoices (``inv_*``) and credit notes (``cn_*``)."""
    ids: dict[str, int] = {}
    for n, (key, customer) in enumerate((("a", "CUST-1"), ("b", "CUST-2"), ("c", "CUST-1"),
                                         ("d", "CUST-1"))):
        ids[f"inv_{key}"] = invoice(api, n, customer)["id"]
        ids[key] = raise_on(db, tmp_path, ids[f"inv_{key}"])
    ids["cn_b"], ids["cn_d"] = credit(db, ids["b"]), credit(db, ids["d"])
    with db.transaction() as s:
        resolving.review(s, CLI, ids["c"])
    return ids


@pytest.mark.parametrize("query, expected", [
    ("", "abcd"),
    ("status=open", "a"),
    ("status=open,under_review", "ac"),
    ("status=resolved", "bd"),
    ("customer=CUST-1", "acd"),
    ("customer=CUST-2&status=open", ""),
    ("customer=NOBODY", ""),
    ("invoice={inv_b}", "b"),
    ("invoice={inv_b}&customer=CUST-1", ""),
    ("status=&customer=&invoice=", "abcd"),
])
def test_disputes_are_filtered(api: Api, db, tmp_path, doc, query, expected):
    ids = _world(api, db, tmp_path)
    response = api.get("/disputes?" + query.format(**ids))
    assert response.status_code == 200
    assert_documented(doc, "/disputes", "get", response)
    assert [d["id"] for d in response.get_json()["data"]] == [ids[k] for k in expected]


@pytest.mark.parametrize("query, expected", [
    ("", ["cn_b", "cn_d"]),
    ("customer=CUST-1", ["cn_d"]),
    ("customer=CUST-2", ["cn_b"]),
    ("invoice={inv_b}", ["cn_b"]),
    ("invoice={inv_a}", []),
])
def test_credit_notes_are_filtered(api: Api, db, tmp_path, doc, query, expected):
    ids = _world(api, db, tmp_path)
    response = api.get("/credit-notes?" + query.format(**ids))
    assert response.status_code == 200
    assert_documented(doc, "/credit-notes", "get", response)
    assert [n["id"] for n in response.get_json()["data"]] == [ids[k] for k in expected]


@pytest.mark.parametrize("path", ["/disputes", "/credit-notes"])
def test_lists_page_by_cursor(api: Api, db, tmp_path, doc, path):
    ids = [raise_on(db, tmp_path, invoice(api, n)["id"]) for n in range(5)]
    if path == "/credit-notes":
        ids = [credit(db, d) for d in ids]
    seen, cursor = [], None
    while True:
        response = api.get(f"{path}?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert_documented(doc, path, "get", response)
        body = response.get_json()
        assert len(body["data"]) <= 2
        seen += [row["id"] for row in body["data"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert seen == ids


BAD = [
    ("cursor=bm9wZQ", {"cursor"}),
    ("limit=0", {"limit"}),
    ("limit=101", {"limit"}),
    ("invoice=abc", {"invoice"}),
    ("invoice=0", {"invoice"}),
    ("invoice=-1", {"invoice"}),
    ("invoice=²", {"invoice"}),
    ("invoice=99999999999", {"invoice"}),
    ("customer=a%00b", {"customer"}),
    ("invoice=x&limit=x", {"invoice", "limit"}),
]


@pytest.mark.parametrize("query, fields", [
    *BAD, ("status=closed", {"status"}), ("status=open,closed&invoice=1.5", {"status", "invoice"}),
])
def test_bad_dispute_queries_are_422_with_a_message_per_field(api: Api, doc, query, fields):
    response = api.get(f"/disputes?{query}")
    assert response.status_code == 422
    assert_documented(doc, "/disputes", "get", response)
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == fields


@pytest.mark.parametrize("query, fields", BAD)
def test_bad_credit_note_queries_are_422_with_a_message_per_field(api: Api, doc, query, fields):
    response = api.get(f"/credit-notes?{query}")
    assert response.status_code == 422
    assert_documented(doc, "/credit-notes", "get", response)
    assert set(response.get_json()["error"]["fields"]) == fields


def test_unknown_status_names_the_allowed_ones(api: Api):
    message = api.get("/disputes?status=closed").get_json()["error"]["fields"]["status"]
    assert all(status in message for status in STATUSES)


@contextmanager
def counted(db):
    """Count the SQL statements run inside the block."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


@pytest.mark.parametrize("path", ["/disputes", "/credit-notes"])
def test_a_page_costs_the_same_queries_for_one_row_or_many(api: Api, db, tmp_path, path):
    for n in range(6):
        dispute_id = raise_on(db, tmp_path, invoice(api, n, f"C-{n}")["id"],
                              files=[Upload("a.png", PNG)])
        with db.transaction() as s:
            resolving.reply(s, CLI, dispute_id, "looking")
        credit(db, dispute_id)
    api.get(path)  # the API key's last use is touched once: not part of the count
    with counted(db) as one:
        assert len(api.get(f"{path}?limit=1").get_json()["data"]) == 1
    with counted(db) as six:
        assert len(api.get(f"{path}?limit=6").get_json()["data"]) == 6
    assert len(six) == len(one) <= 10  # key, page, lines, invoices, customers, thread


# --- errors, keys, the document ---------------------------------------------------------------


@pytest.mark.parametrize("path, documented", [
    ("/disputes/999999", "/disputes/{id}"),
    ("/disputes/0", "/disputes/{id}"),
    ("/disputes/99999999999", "/disputes/{id}"),
    ("/credit-notes/999999", "/credit-notes/{id}"),
    ("/credit-notes/999999/pdf", "/credit-notes/{id}/pdf"),
    ("/credit-notes/-1/pdf", "/credit-notes/{id}/pdf"),
])
def test_unknown_ids_are_404_in_the_error_envelope(api: Api, doc, path, documented):
    response = api.get(path)
    assert response.status_code == 404
    assert_documented(doc, documented, "get", response)
    assert response.get_json()["error"]["code"] == "not_found"


def test_every_endpoint_needs_an_api_key(api: Api, client, db, tmp_path, doc):
    ids = seed_disputes(api, db, tmp_path)
    for path, documented in (("/disputes", "/disputes"),
                             (f"/disputes/{ids['open']}", "/disputes/{id}"),
                             ("/credit-notes", "/credit-notes"),
                             (f"/credit-notes/{ids['note']}", "/credit-notes/{id}"),
                             (f"/credit-notes/{ids['note']}/pdf", "/credit-notes/{id}/pdf")):
        response = client.get(f"/api/v1{path}")
        assert response.status_code == 401, path
        assert_documented(doc, documented, "get", response)
        bad = client.get(f"/api/v1{path}", headers={"Authorization": "Bearer arp_nope"})
        assert bad.status_code == 401, path


def test_the_document_lists_the_operations(doc):
    operations = {op["operationId"]: (path, method) for path, item in doc["paths"].items()
                  for method, op in item.items()}
    assert {name: operations[name] for name in (
        "listDisputes", "getDispute", "listCreditNotes", "getCreditNote", "getCreditNotePdf")} == {
        "listDisputes": ("/disputes", "get"), "getDispute": ("/disputes/{id}", "get"),
        "listCreditNotes": ("/credit-notes", "get"),
        "getCreditNote": ("/credit-notes/{id}", "get"),
        "getCreditNotePdf": ("/credit-notes/{id}/pdf", "get")}
    pdf = doc["paths"]["/credit-notes/{id}/pdf"]["get"]["responses"]["200"]["content"]
    assert set(pdf) == {"application/pdf"}
    schema = doc["components"]["schemas"]["DisputeOut"]["properties"]
    assert schema["reason"]["enum"] == list(REASONS)
    assert schema["status"]["enum"] == list(STATUSES)
    assert schema["outcome"]["anyOf"][0]["enum"] == list(OUTCOMES)


def test_the_dispute_schemas_are_not_vacuous(api: Api, db, tmp_path, doc):
    seed_disputes(api, db, tmp_path)
    body = api.get("/disputes").get_json()
    check = validator(doc, response_schema(doc, "/disputes", "get", 200))
    assert check.is_valid(body)
    dispute = body["data"][0]
    message = dispute["messages"][0]
    for broken in ({**dispute, "notes": []}, {**dispute, "status": "closed"},
                   {**dispute, "messages": [{**message, "from": "admin"}]},
                   {**dispute, "attachments": [{**dispute["attachments"][0],
                                                "stored_name": "x"}]},
                   {k: v for k, v in dispute.items() if k != "resolution"},
                   {**dispute, "resolution": {"outcome_note": "x"}}):
        assert not check.is_valid({**body, "data": [broken]})
    notes = api.get("/credit-notes").get_json()
    check = validator(doc, response_schema(doc, "/credit-notes", "get", 200))
    assert check.is_valid(notes)
    assert not check.is_valid({**notes, "data": [{**notes["data"][0], "amount": "30.00"}]})


def test_the_invoice_says_how_much_of_its_paid_amount_a_credit_note_settled(api, db, tmp_path):
    from payments.disputes import raising, resolving
    from payments.disputes.attachments import AttachmentStore
    from payments.staff.audit import CLI

    inv = api.create()
    with db.transaction() as s:
        d = raising.raise_dispute(s, inv["id"], raising.Raise(reason="quantity", positions=(2,)),
                                  AttachmentStore(tmp_path), [])
    with db.transaction() as s:
        resolving.credit(s, CLI, d.id, (), "", "Delivery credited")
    shown = api.get(f"/invoices/{inv['id']}").get_json()
    assert (shown["amount_paid"], shown["amount_credited"], shown["amount_due"]) == \
        (500, 500, 3350)
    assert api.get("/invoices").get_json()["data"][0]["amount_credited"] == 500

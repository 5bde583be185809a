"""The integration API as an integrator sees it: status codes, the error envelope, the invoice
JSON, and the links it hands out. Everything goes through HTTP and a real database; the only
direct database writes stand in for the ledger (see :func:`set_paid`).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from payments.clock import utcnow
from payments.invoicing.models import Customer, Invoice, InvoiceLine
from payments.links.models import PayLink
from payments.staff.models import ApiKey
from tests.conftest import path_of
from tests.factories import invoice_body, lines_totalling

UNKNOWN_TOKEN = "A" * 43  # well formed, never issued
MIB = 1024 * 1024


# --- helpers -----------------------------------------------------------------------------------


def row_counts(db) -> dict[str, int]:
    """How many rows each table the API writes holds."""
    with db.reader() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Customer, Invoice, InvoiceLine, PayLink)}


def set_paid(db, invoice_id: int, amount_paid: int) -> None:
    """Pretend ``amount_paid`` has arrived on the invoice.

    The ledger, the only writer of balances, arrives in a later issue; until then the tests put
    the money on the row directly, which is what the ledger will do underneath.
    """
    with db.transaction() as session:
        session.get(Invoice, invoice_id).amount_paid = amount_paid


def assert_error(response, status: int, code: str) -> dict[str, str]:
    """Assert the JSON error envelope with ``status`` and ``code``; return its ``fields``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in error["fields"].items())
    return error["fields"]


def post_raw(client, key: str, data: bytes | str, content_type: str | None = "application/json"):
    """POST an arbitrary body to ``/api/v1/invoices``."""
    headers = {"Authorization": f"Bearer {key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post("/api/v1/invoices", data=data, headers=headers)


def dated(days_ago: int, term: int = 30) -> dict[str, str]:
    """``issue_date``/``due_date`` fields for an invoice issued ``days_ago`` with ``term`` days."""
    issue = datetime.now(UTC).date() - timedelta(days=days_ago)  # the API's business date
    return {"issue_date": issue.isoformat(), "due_date": (issue + timedelta(days=term)).isoformat()}


def get_page(client, url: str):
    """GET a customer-facing URL from an API response through the test client."""
    return client.get(path_of(url))


# --- authentication ----------------------------------------------------------------------------

BAD_AUTH = {
    "missing header": None,
    "empty header": "",
    "wrong scheme": "Basic dXNlcjpwYXNz",
    "scheme only": "Bearer ",
    "key without scheme": "arp_not-a-real-key",
    "wrong key": "Bearer arp_" + "x" * 43,
}


def _call(client, method: str, path: str, authorization: str | None):
    headers = {} if authorization is None else {"Authorization": authorization}
    kwargs = {"json": invoice_body()} if path == "/invoices" and method == "post" else {}
    return getattr(client, method)(f"/api/v1{path}", headers=headers, **kwargs)


def assert_unauthorized(response) -> None:
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("authorization", BAD_AUTH.values(), ids=BAD_AUTH.keys())
@pytest.mark.parametrize("method,path", [
    ("get", "/invoices"), ("post", "/invoices"), ("get", "/invoices/1"),
    ("post", "/invoices/1/void"), ("post", "/invoices/1/link"),
])
def test_requests_without_a_valid_key_get_401(client, db, authorization, method, path):
    assert_unauthorized(_call(client, method, path, authorization))
    assert row_counts(db)["invoices"] == 0


def test_a_revoked_key_gets_401(api, client, db, api_key):
    inv = api.create()
    with db.transaction() as session:
        session.scalars(select(ApiKey)).one().revoked_at = utcnow()
    assert_unauthorized(_call(client, "get", f"/invoices/{inv['id']}", f"Bearer {api_key}"))
    # ...and it cannot change anything either.
    assert_unauthorized(_call(client, "post", f"/invoices/{inv['id']}/void", f"Bearer {api_key}"))
    assert api.client.get(path_of(inv["pay_url"])).status_code == 200  # still not void


def test_the_scheme_is_case_insensitive(client, api_key):
    response = client.get("/api/v1/invoices", headers={"Authorization": f"bearer {api_key}"})
    assert response.status_code == 200


def test_401_says_nothing_about_which_invoices_exist(api, client):
    inv = api.create()
    for method, suffix in (("get", ""), ("post", "/void"), ("post", "/link")):
        existing = _call(client, method, f"/invoices/{inv['id']}{suffix}", "Bearer nope")
        missing = _call(client, method, f"/invoices/{inv['id'] + 1000}{suffix}", "Bearer nope")
        assert existing.status_code == missing.status_code == 401
        assert existing.get_data() == missing.get_data()
        assert existing.headers["WWW-Authenticate"] == missing.headers["WWW-Authenticate"]


def test_the_openapi_document_is_public(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.1")


# --- create or update by external_id -----------------------------------------------------------


def test_create_then_same_body_again_is_one_invoice(api, db):
    first = api.post("/invoices", json=invoice_body())
    assert first.status_code == 201
    again = api.post("/invoices", json=invoice_body())
    assert again.status_code == 200
    assert again.get_json() == first.get_json()  # same id, revision, links, timestamps
    assert first.get_json()["revision"] == 1
    assert row_counts(db) == {"customers": 1, "invoices": 1, "invoice_lines": 2,
                              "pay_links": 2}  # one invoice link, one statement link


def test_created_invoice_has_the_contract_fields(api):
    inv = api.create()
    assert inv["external_id"] == "ERP-1" and inv["number"] == "INV-0001"
    assert (inv["status"], inv["currency"], inv["total"]) == ("open", "USD", 3850)
    assert (inv["subtotal"], inv["tax_amount"]) == (3500, 350)
    assert (inv["amount_paid"], inv["amount_pending"], inv["amount_due"]) == (0, 0, 3850)
    assert inv["lines"] == [
        {"description": "Widgets", "quantity": "3", "unit_amount": 1000, "amount": 3000},
        {"description": "Delivery", "quantity": None, "unit_amount": None, "amount": 500},
    ]
    assert inv["customer"]["external_id"] == "CUST-1"
    assert inv["customer"]["email"] == "ap@northwind.example"
    assert inv["pay_url"].startswith("https://portal.test/i/")
    assert inv["pdf_url"] == inv["pay_url"] + "/pdf"
    assert inv["qr_svg_url"] == inv["pay_url"] + "/qr.svg"
    assert inv["customer"]["statement_url"].startswith("https://portal.test/s/")


def test_every_url_in_the_response_works(api, client):
    inv = api.create()
    pages = {
        "pay_url": ("text/html", "INV-0001"),
        "pdf_url": ("application/pdf", None),
        "qr_svg_url": ("image/svg+xml", None),
    }
    for field, (mimetype, text) in pages.items():
        response = get_page(client, inv[field])
        assert response.status_code == 200, field
        assert response.mimetype == mimetype, field
        if text:
            assert text in response.get_data(as_text=True)
    statement = get_page(client, inv["customer"]["statement_url"])
    assert statement.status_code == 200
    assert "INV-0001" in statement.get_data(as_text=True)


def test_a_changed_body_updates_the_invoice_and_replaces_its_lines(api, client, db):
    first = api.create()
    changed = invoice_body(memo="Thank you", **lines_totalling(3, amount=700))
    response = api.post("/invoices", json=changed)
    assert response.status_code == 200
    inv = response.get_json()
    assert inv["id"] == first["id"]
    assert inv["revision"] == first["revision"] + 1
    assert (inv["total"], inv["tax_amount"], inv["memo"]) == (2100, 0, "Thank you")
    assert [line["description"] for line in inv["lines"]] == ["Line 1", "Line 2", "Line 3"]
    assert inv["pay_url"] == first["pay_url"]  # the link printed on the invoice keeps working
    assert row_counts(db)["invoice_lines"] == 3
    assert row_counts(db)["invoices"] == 1
    page = get_page(client, inv["pay_url"]).get_data(as_text=True)
    assert "Line 3" in page and "Widgets" not in page


def test_updating_the_customer_changes_the_one_customer_row(api, db):
    api.create()
    customer = {"external_id": "CUST-1", "name": "Northwind Traders Inc.", "email": None}
    inv = api.create(customer=customer)
    assert inv["customer"]["name"] == "Northwind Traders Inc."
    assert inv["customer"]["email"] is None
    assert row_counts(db)["customers"] == 1


def test_two_invoices_of_one_customer_share_the_statement(api, db):
    a = api.create()
    b = api.create(external_id="ERP-2", number="INV-0002")
    assert a["id"] != b["id"] and a["pay_url"] != b["pay_url"]
    assert a["customer"] == b["customer"]
    assert row_counts(db)["customers"] == 1


@pytest.mark.parametrize("field,change", [
    ("total", lines_totalling(2, amount=5000)),
    ("currency", {"currency": "EUR"}),
    ("customer", {"customer": {"external_id": "CUST-2", "name": "Someone else"}}),
])
def test_money_fields_cannot_change_once_money_has_moved(api, db, field, change):
    inv = api.create()
    set_paid(db, inv["id"], 1000)
    before = row_counts(db)
    response = api.post("/invoices", json=invoice_body(**change))
    fields = assert_error(response, 409, "conflict")
    assert field in fields
    after = api.get(f"/invoices/{inv['id']}").get_json()
    assert (after["revision"], after["total"], after["currency"]) == (1, 3850, "USD")
    assert after["customer"]["external_id"] == "CUST-1"
    assert row_counts(db) == before  # not even the new customer was kept


def test_non_money_fields_can_change_after_money_has_moved(api, db):
    inv = api.create()
    set_paid(db, inv["id"], 1000)
    response = api.post("/invoices", json=invoice_body(memo="PO 4711", terms="Net 45"))
    assert response.status_code == 200
    updated = response.get_json()
    assert (updated["memo"], updated["terms"], updated["revision"]) == ("PO 4711", "Net 45", 2)
    assert (updated["amount_paid"], updated["amount_due"]) == (1000, 2850)
    assert updated["status"] == "partially_paid"


def test_a_void_invoice_cannot_be_updated(api, db):
    inv = api.create()
    assert api.post(f"/invoices/{inv['id']}/void").status_code == 200
    assert_error(api.post("/invoices", json=invoice_body(memo="too late")), 409, "conflict")
    after = api.get(f"/invoices/{inv['id']}").get_json()
    assert after["memo"] is None and after["status"] == "void"
    # Re-sending the exact body it already holds is an idempotent retry, not a change.
    same = api.post("/invoices", json=invoice_body())
    assert same.status_code == 200 and same.get_json()["status"] == "void"


# --- validation: 422 with one message per field, nothing written -------------------------------


def _locate(body: dict, path: str):
    """The container of ``path`` ("lines.0.amount") in ``body``, and the key within it."""
    keys = [int(part) if part.isdigit() else part for part in path.split(".")]
    target = body
    for key in keys[:-1]:
        target = target[key]
    return target, keys[-1]


def _set(path: str, value):
    """A mutation that sets ``path`` in the body to ``value``."""
    def mutate(body):
        target, key = _locate(body, path)
        target[key] = value
    return mutate


def _drop(path: str):
    """A mutation that removes ``path`` from the body."""
    def mutate(body):
        target, key = _locate(body, path)
        del target[key]
    return mutate


def _update(**fields):
    return lambda body: body.update(fields)


MINOR_UNITS = "minor units"
INVALID = {
    "unknown top-level field": (_set("colour", "red"), {"colour": "not a known field"}),
    "unknown line field": (_set("lines.0.sku", "W-1"), {"lines.0.sku": "not a known field"}),
    "unknown customer field": (_set("customer.phone", "555"),
                               {"customer.phone": "not a known field"}),
    "float amount": (_set("lines.0.amount", 10.5), {"lines.0.amount": MINOR_UNITS}),
    "string amount": (_set("lines.1.amount", "10"), {"lines.1.amount": MINOR_UNITS}),
    "float total with .0": (_set("total", 3850.0), {"total": MINOR_UNITS}),
    "float tax with .0": (_set("tax_amount", 350.0), {"tax_amount": MINOR_UNITS}),
    "string total": (_set("total", "3850"), {"total": MINOR_UNITS}),
    "boolean amount": (_set("lines.0.amount", True), {"lines.0.amount": MINOR_UNITS}),
    "boolean unit_amount": (_set("lines.0.unit_amount", False),
                            {"lines.0.unit_amount": MINOR_UNITS}),
    "null tax": (_set("tax_amount", None), {"tax_amount": MINOR_UNITS}),
    "negative total": (_update(**lines_totalling(1, amount=-100)), {"total": ""}),
    "string boolean": (_set("allow_partial", "yes"), {"allow_partial": ""}),
    "total does not add up": (_set("total", 3851), {"total": "3500 + 350 = 3850"}),
    "total without tax": (_set("tax_amount", 0), {"total": "3500 + 0 = 3500"}),
    "unknown currency": (_set("currency", "XYZ"), {"currency": "XYZ"}),
    "lower-case currency": (_set("currency", "usd"), {"currency": ""}),
    "four-letter currency": (_set("currency", "USDT"), {"currency": ""}),
    "due before issue": (_update(issue_date="2024-03-10", due_date="2024-03-09"),
                         {"due_date": "issue_date"}),
    "impossible date": (_set("issue_date", "2024-02-30"), {"issue_date": ""}),
    "date in another format": (_set("due_date", "03/10/2024"), {"due_date": ""}),
    "date as a number": (_set("due_date", 20240310), {"due_date": ""}),
    "datetime for a date": (_set("issue_date", "2024-03-10T12:30:00Z"), {"issue_date": ""}),
    "1,001 lines": (_update(**lines_totalling(1001)), {"lines": "1000"}),
    "no lines": (_update(lines=[], total=350), {"lines": ""}),
    "lines not a list": (_set("lines", {"description": "x", "amount": 1}), {"lines": ""}),
    "missing total": (_drop("total"), {"total": "is required"}),
    "missing customer name": (_drop("customer.name"), {"customer.name": "is required"}),
    "missing line amount": (_drop("lines.1.amount"), {"lines.1.amount": "is required"}),
    "blank number": (_set("number", "   "), {"number": ""}),
    "bad email": (_set("customer.email", "not-an-email"), {"customer.email": ""}),
    "min partial without allow_partial": (_set("min_partial_amount", 100),
                                          {"min_partial_amount": "allow_partial"}),
    "min partial above total": (_update(allow_partial=True, min_partial_amount=3851),
                                {"min_partial_amount": "total"}),
    "several problems at once": (
        lambda body: body.update(colour="red", total=10.5, currency="usd"),
        {"colour": "not a known field", "total": MINOR_UNITS, "currency": ""},
    ),
}


@pytest.mark.parametrize("mutate,expected", INVALID.values(), ids=INVALID.keys())
def test_invalid_bodies_get_one_message_per_field(api, db, mutate, expected):
    body = invoice_body()
    mutate(body)
    response = api.post("/invoices", json=body)
    fields = assert_error(response, 422, "invalid")
    assert set(fields) == set(expected), fields
    for field, fragment in expected.items():
        assert fragment in fields[field], (field, fields[field])
    assert sum(row_counts(db).values()) == 0


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"an invoice"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_422(client, api_key, db, raw):
    fields = assert_error(post_raw(client, api_key, raw), 422, "invalid")
    assert set(fields) == {"body"}
    assert sum(row_counts(db).values()) == 0


@pytest.mark.parametrize("raw", [b"", b"{", b"{'external_id': 'x'}", b'{"a": 1,}', b"\xff\xfe"])
def test_invalid_json_is_422(client, api_key, db, raw):
    fields = assert_error(post_raw(client, api_key, raw), 422, "invalid")
    assert set(fields) == {"body"}
    assert sum(row_counts(db).values()) == 0


def test_an_invalid_update_changes_nothing(api, db):
    inv = api.create()
    before = row_counts(db)
    assert_error(api.post("/invoices", json=invoice_body(memo="new", total=1)), 422, "invalid")
    assert row_counts(db) == before
    assert api.get(f"/invoices/{inv['id']}").get_json() == inv


def test_1000_lines_are_accepted(api, db):
    inv = api.create(**lines_totalling(1000, amount=7))
    assert len(inv["lines"]) == 1000 and inv["total"] == 7000
    assert row_counts(db)["invoice_lines"] == 1000


def test_a_body_over_1_mib_is_413(client, api_key, db):
    body = json.dumps(invoice_body(memo="x" * MIB)).encode()
    assert len(body) > MIB
    response = post_raw(client, api_key, body)
    assert_error(response, 413, "body_too_large")
    assert sum(row_counts(db).values()) == 0


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", None,
])
def test_a_body_that_is_not_json_is_415(client, api_key, db, content_type):
    response = post_raw(client, api_key, json.dumps(invoice_body()), content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert sum(row_counts(db).values()) == 0


def test_json_with_a_charset_is_json(client, api_key):
    response = post_raw(client, api_key, json.dumps(invoice_body()),
                        "application/json; charset=utf-8")
    assert response.status_code == 201


@pytest.mark.parametrize("currency,shown", [("JPY", "¥3,850"), ("BHD", "3.850"),
                                            ("USD", "$38.50")])
def test_amounts_are_minor_units_of_the_currency(api, client, currency, shown):
    inv = api.create(currency=currency)
    assert (inv["currency"], inv["total"], inv["amount_due"]) == (currency, 3850, 3850)
    assert shown in get_page(client, inv["pay_url"]).get_data(as_text=True)


def test_quantities_may_be_decimal_numbers_or_strings(api):
    lines = [{"description": "Hours", "quantity": 1.5, "unit_amount": 2000, "amount": 3000},
             {"description": "Metres", "quantity": "40", "amount": 500}]
    inv = api.create(lines=lines)
    assert [line["quantity"] for line in inv["lines"]] == ["1.5", "40"]


# --- get ---------------------------------------------------------------------------------------


def test_get_returns_what_create_returned(api):
    inv = api.create()
    response = api.get(f"/invoices/{inv['id']}")
    assert response.status_code == 200
    assert response.get_json() == inv


@pytest.mark.parametrize("method,suffix", [("get", ""), ("post", "/void"), ("post", "/link")])
@pytest.mark.parametrize("invoice_id", [999, 2**31, 2**40, 2**63, 10**30])
def test_unknown_invoice_is_404(api, method, suffix, invoice_id):
    api.create()
    response = getattr(api, method)(f"/invoices/{invoice_id}{suffix}")
    assert_error(response, 404, "not_found")


def test_an_overdue_invoice_says_by_how_many_days(api):
    inv = api.create(**dated(days_ago=40, term=30))
    assert (inv["status"], inv["days_overdue"]) == ("overdue", 10)


# --- list --------------------------------------------------------------------------------------


def create_many(api, n: int, **overrides) -> list[int]:
    """Create ``n`` invoices ERP-1..ERP-n; return their ids in creation order."""
    return [api.create(external_id=f"ERP-{i}", number=f"INV-{i:04}", **overrides)["id"]
            for i in range(1, n + 1)]


def list_all(api, query: str = "", limit: int = 3) -> tuple[list[int], list[dict]]:
    """Follow ``next_cursor`` to the end; return every id seen and every page."""
    ids, pages, cursor = [], [], None
    while True:
        params = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "") + query
        response = api.get(f"/invoices?{params}")
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        pages.append(page)
        ids += [inv["id"] for inv in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return ids, pages
        cursor = page["next_cursor"]
        assert cursor and len(pages) < 100


def test_cursor_pagination_returns_every_invoice_once_in_order(api):
    created = create_many(api, 7)
    ids, pages = list_all(api, limit=3)
    assert ids == sorted(created)
    assert [len(p["data"]) for p in pages] == [3, 3, 1]
    assert [p["has_more"] for p in pages] == [True, True, False]


def test_a_page_that_ends_exactly_has_no_next_cursor(api):
    create_many(api, 3)
    page = api.get("/invoices?limit=3").get_json()
    assert (len(page["data"]), page["has_more"], page["next_cursor"]) == (3, False, None)


def test_an_empty_list(api):
    assert api.get("/invoices").get_json() == {"data": [], "has_more": False,
                                               "next_cursor": None}


def test_list_items_are_the_same_as_get(api):
    inv = api.create()
    assert api.get("/invoices").get_json()["data"] == [inv]


@pytest.fixture
def one_of_each(api, db) -> dict[str, int]:
    """An invoice in every status (and one of another customer), by name → id."""
    ids = {
        "open": api.create(external_id="OPEN")["id"],
        "overdue": api.create(external_id="LATE", **dated(days_ago=60))["id"],
        "paid": api.create(external_id="PAID")["id"],
        "partially_paid": api.create(external_id="PART")["id"],
        "void": api.create(external_id="VOID")["id"],
        "other_customer": api.create(external_id="OTHER", customer={
            "external_id": "CUST-2", "name": "Contoso"})["id"],
    }
    set_paid(db, ids["paid"], 3850)
    set_paid(db, ids["partially_paid"], 1000)
    assert api.post(f"/invoices/{ids['void']}/void").status_code == 200
    return ids


@pytest.mark.parametrize("query,expected", [
    ("status=open", ["open", "other_customer"]),
    ("status=overdue", ["overdue"]),
    ("status=paid", ["paid"]),
    ("status=partially_paid", ["partially_paid"]),
    ("status=void", ["void"]),
    ("status=paid,void", ["paid", "void"]),
    ("status=open,overdue,partially_paid", ["open", "overdue", "partially_paid",
                                            "other_customer"]),
    ("customer=CUST-2", ["other_customer"]),
    ("customer=CUST-1&status=open", ["open"]),
    ("customer=NOBODY", []),
    ("status=", ["open", "overdue", "paid", "partially_paid", "void", "other_customer"]),
])
def test_list_filters(api, one_of_each, query, expected):
    ids, _pages = list_all(api, "&" + query, limit=2)
    assert ids == sorted(one_of_each[name] for name in expected)


def test_status_in_the_json_matches_the_filter(api, one_of_each):
    for status in ("open", "overdue", "paid", "partially_paid", "void"):
        page = api.get(f"/invoices?status={status}").get_json()
        assert {inv["status"] for inv in page["data"]} == {status}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("query,field", [
    ("status=bogus", "status"),
    ("status=open,bogus", "status"),
    ("status=OPEN", "status"),
    ("cursor=not-a-cursor", "cursor"),
    ("cursor=" + _cursor("v2:3"), "cursor"),
    ("cursor=" + _cursor("v1:-3"), "cursor"),
    ("cursor=" + _cursor("v1:²"), "cursor"),
    ("cursor=" + _cursor("v1:" + str(2**31)), "cursor"),  # ids are 32-bit on PostgreSQL
    ("cursor=" + _cursor("v1:" + "9" * 30), "cursor"),
    ("limit=0", "limit"),
    ("limit=101", "limit"),
    ("limit=-1", "limit"),
    ("limit=ten", "limit"),
    ("limit=2.5", "limit"),
    ("limit=%C2%B2", "limit"),  # "²": a digit to str.isdigit(), not to int()
])
def test_invalid_list_parameters_are_422(api, query, field):
    api.create()
    fields = assert_error(api.get(f"/invoices?{query}"), 422, "invalid")
    assert set(fields) == {field}


def test_every_invalid_list_parameter_is_reported(api):
    fields = assert_error(api.get("/invoices?status=x&cursor=y&limit=0"), 422, "invalid")
    assert set(fields) == {"status", "cursor", "limit"}


@pytest.mark.parametrize("cursor", ["%C2%8A%C3%99", "%F0%9F%92%B8", "%FF%FE"])
def test_a_cursor_that_is_not_ascii_is_a_field_error_not_a_crash(api, cursor):
    # Found by the fuzzer (tests/portal/api/test_fuzz.py): base64 refuses non-ASCII text
    # with a ValueError of its own.
    fields = assert_error(api.get(f"/invoices?cursor={cursor}"), 422, "invalid")
    assert set(fields) == {"cursor"}


def test_a_cursor_past_the_end_gives_an_empty_page(api):
    create_many(api, 2)
    page = api.get(f"/invoices?cursor={_cursor('v1:' + str(2**31 - 1))}").get_json()
    assert page == {"data": [], "has_more": False, "next_cursor": None}


# --- void --------------------------------------------------------------------------------------


def test_void_is_idempotent_and_the_page_shows_void(api, client):
    inv = api.create()
    first = api.post(f"/invoices/{inv['id']}/void")
    assert first.status_code == 200
    voided = first.get_json()
    assert voided["status"] == "void" and voided["voided_at"]
    assert voided["revision"] == inv["revision"] + 1
    second = api.post(f"/invoices/{inv['id']}/void")
    assert second.status_code == 200
    assert second.get_json() == voided
    page = get_page(client, voided["pay_url"])
    assert page.status_code == 200
    assert "Void" in page.get_data(as_text=True)


def test_an_invoice_with_money_cannot_be_voided(api, db):
    inv = api.create()
    set_paid(db, inv["id"], 100)
    assert_error(api.post(f"/invoices/{inv['id']}/void"), 409, "conflict")
    after = api.get(f"/invoices/{inv['id']}").get_json()
    assert after["status"] == "partially_paid" and after["voided_at"] is None


# --- rotating the pay link ---------------------------------------------------------------------


def test_rotating_the_link_kills_the_old_one(api, client):
    inv = api.create()
    response = api.post(f"/invoices/{inv['id']}/link")
    assert response.status_code == 200
    new = response.get_json()
    assert new["id"] == inv["id"]
    for field in ("pay_url", "pdf_url", "qr_svg_url"):
        assert new[field] != inv[field]
        assert get_page(client, new[field]).status_code == 200
    assert new["customer"]["statement_url"] == inv["customer"]["statement_url"]
    unknown = client.get(f"/i/{UNKNOWN_TOKEN}")
    old = get_page(client, inv["pay_url"])
    assert old.status_code == unknown.status_code == 404
    assert old.get_data() == unknown.get_data()
    assert get_page(client, inv["pdf_url"]).status_code == 404
    assert get_page(client, inv["qr_svg_url"]).status_code == 404


def test_after_rotation_the_api_hands_out_the_new_link(api):
    inv = api.create()
    new = api.post(f"/invoices/{inv['id']}/link").get_json()
    assert api.get(f"/invoices/{inv['id']}").get_json()["pay_url"] == new["pay_url"]
    assert api.create()["pay_url"] == new["pay_url"]  # re-pushing the same body keeps it


def test_a_nul_in_the_customer_filter_is_a_422_not_a_500(api):
    response = api.get("/invoices?customer=a%00b")
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "customer": "must not contain NUL characters"}

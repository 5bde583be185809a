"""The OpenAPI document at /api/v1/openapi.json is valid, complete, and tells the truth: real
responses validate against the schemas it documents, and request bodies it rejects are rejected
by the API too.
"""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import Api
from tests.factories import invoice_body, lines_totalling
from tests.portal.api.test_invoices_api import set_paid

DOC_URI = "urn:ar-portal:openapi"
PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def doc(client) -> dict:
    response = client.get(f"{PREFIX}/openapi.json")  # no key: the document is public
    assert response.status_code == 200
    return response.get_json()


def validator(doc: dict, schema: dict) -> Draft202012Validator:
    """A validator for ``schema`` (usually a ``$ref`` into the document's components)."""
    registry = Registry().with_resource(DOC_URI, Resource(doc, specification=DRAFT202012))
    if set(schema) == {"$ref"} and schema["$ref"].startswith("#"):
        schema = {"$ref": DOC_URI + schema["$ref"]}
    return Draft202012Validator(schema, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def response_schema(doc: dict, path: str, method: str, status: int) -> dict:
    """The documented JSON schema of ``method path`` for ``status`` (fails if undocumented)."""
    responses = doc["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    return responses[str(status)]["content"]["application/json"]["schema"]


def request_schema(doc: dict) -> dict:
    return doc["paths"]["/invoices"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]


def assert_documented(doc: dict, path: str, method: str, response) -> None:
    """Assert that ``response`` (a real one) matches what the document says about it."""
    schema = response_schema(doc, path, method, response.status_code)
    errors = [e.message for e in validator(doc, schema).iter_errors(response.get_json())]
    assert not errors, (method, path, response.status_code, errors)


# --- the document itself -----------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1")
    validate_spec(doc)


def _normalise(path: str) -> str:
    """``/invoices/{id}`` and ``/invoices/<int:invoice_id>`` both → ``/invoices/{}``."""
    return re.sub(r"\{[^}]+\}|<[^>]+>", "{}", path)


def test_documented_operations_are_exactly_the_routes(app, doc):
    assert doc["servers"] == [{"url": PREFIX}]
    documented = {(_normalise(path), method.upper())
                  for path, item in doc["paths"].items() for method in item
                  if method in {"get", "put", "post", "delete", "patch"}}
    routed = {(_normalise(rule.rule.removeprefix(PREFIX)), method)
              for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX + "/")
              for method in rule.methods - IGNORED_METHODS
              if rule.endpoint != "api.openapi"}
    assert documented == routed


def test_every_operation_documents_401_and_its_path_parameters(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert "401" in operation["responses"], (method, path)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{([^}]+)\}", path)), (method, path)
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_ref_resolves(doc):
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', repr(doc).replace("'", '"'))
    assert refs
    assert set(refs) <= set(doc["components"]["schemas"])


# --- real responses match the documented schemas -----------------------------------------------


def test_create_update_get_void_link_responses_match(api: Api, doc):
    created = api.post("/invoices", json=invoice_body())
    assert created.status_code == 201
    assert_documented(doc, "/invoices", "post", created)
    unchanged = api.post("/invoices", json=invoice_body())
    assert unchanged.status_code == 200
    assert_documented(doc, "/invoices", "post", unchanged)
    invoice_id = created.get_json()["id"]
    for method, path in (("get", "/invoices/{id}"), ("post", "/invoices/{id}/link"),
                         ("post", "/invoices/{id}/void")):
        response = getattr(api, method)(path.replace("{id}", str(invoice_id)))
        assert response.status_code == 200
        assert_documented(doc, path, method, response)


def test_the_response_schemas_are_not_vacuous(api: Api, doc):
    # Guards the helpers above: a broken $ref or an empty schema would make every check pass.
    body = api.post("/invoices", json=invoice_body()).get_json()
    check = validator(doc, response_schema(doc, "/invoices", "post", 201))
    assert check.is_valid(body)
    assert not check.is_valid({**body, "surprise": 1})
    assert not check.is_valid({k: v for k, v in body.items() if k != "pay_url"})
    assert not check.is_valid({**body, "status": "pending"})
    assert not check.is_valid({**body, "customer": {**body["customer"], "statement_url": 5}})
    assert not check.is_valid({**body, "due_date": "tomorrow"})
    error = validator(doc, response_schema(doc, "/invoices", "post", 422))
    assert not error.is_valid({"error": {"code": "invalid", "message": "x"}})


def test_a_list_page_matches(api: Api, doc):
    for i in range(3):
        api.create(external_id=f"ERP-{i}", memo=f"memo {i}")
    page = api.get("/invoices?limit=2")
    assert page.status_code == 200 and page.get_json()["has_more"]
    assert_documented(doc, "/invoices", "get", page)
    last = api.get(f"/invoices?limit=2&cursor={page.get_json()['next_cursor']}")
    assert_documented(doc, "/invoices", "get", last)


def test_error_responses_match(api: Api, client, db, doc):
    inv = api.create()
    cases = [
        ("post", "/invoices", api.post("/invoices", json=invoice_body(total=1)), 422),
        ("post", "/invoices", client.post(f"{PREFIX}/invoices", json=invoice_body()), 401),
        ("post", "/invoices", api.post("/invoices", data="{}", content_type="text/plain"), 415),
        ("post", "/invoices", api.post("/invoices", data="x" * (1024 * 1024 + 1),
                                       content_type="application/json"), 413),
        ("get", "/invoices", api.get("/invoices?limit=0"), 422),
        ("get", "/invoices", client.get(f"{PREFIX}/invoices"), 401),
        ("get", "/invoices/{id}", api.get("/invoices/999999"), 404),
        ("get", "/invoices/{id}", client.get(f"{PREFIX}/invoices/{inv['id']}"), 401),
        ("post", "/invoices/{id}/void", api.post("/invoices/999999/void"), 404),
        ("post", "/invoices/{id}/link", api.post("/invoices/999999/link"), 404),
    ]
    set_paid(db, inv["id"], 100)
    cases += [
        ("post", "/invoices", api.post("/invoices", json=invoice_body(**lines_totalling(2))),
         409),
        ("post", "/invoices/{id}/void", api.post(f"/invoices/{inv['id']}/void"), 409),
    ]
    for method, path, response, status in cases:
        assert response.status_code == status, (method, path, response.get_json())
        assert_documented(doc, path, method, response)


# --- the request schema and the API agree ------------------------------------------------------


def _without(key: str) -> dict:
    body = invoice_body()
    del body[key]
    return body


def _with_line_amount(amount) -> dict:
    body = invoice_body()
    body["lines"][0]["amount"] = amount
    return body


SCHEMA_REJECTS = {
    "float amount": _with_line_amount(10.5),
    "string amount": _with_line_amount("3000"),
    "boolean amount": _with_line_amount(True),
    "unknown field": invoice_body(colour="red"),
    "unknown customer field": invoice_body(customer={"external_id": "C", "name": "N", "x": 1}),
    "missing total": _without("total"),
    "missing customer": _without("customer"),
    "lower-case currency": invoice_body(currency="usd"),
    "no lines": invoice_body(lines=[], total=350),
    "negative tax": invoice_body(tax_amount=-1),
    "not an object": [invoice_body()],
}


@pytest.mark.parametrize("body", SCHEMA_REJECTS.values(), ids=SCHEMA_REJECTS.keys())
def test_bodies_the_schema_rejects_are_rejected_by_the_api(api: Api, doc, body):
    assert not validator(doc, request_schema(doc)).is_valid(body)
    response = api.post("/invoices", json=body)
    assert response.status_code == 422, response.get_json()


SCHEMA_ACCEPTS = {
    "the factory body": invoice_body(),
    "only required fields": {
        "external_id": "ERP-9", "number": "9", "currency": "JPY", "issue_date": "2030-01-01",
        "due_date": "2030-01-01", "customer": {"external_id": "C-9", "name": "Nine"},
        "lines": [{"description": "All of it", "amount": 500}], "total": 500,
    },
    "every optional field": invoice_body(
        memo="PO 1", terms="Net 30", allow_partial=True, min_partial_amount=1000,
        lines=[{"description": "Hours", "quantity": "1.5", "unit_amount": 2000, "amount": 3000},
               {"description": "Discount", "quantity": None, "unit_amount": None,
                "amount": -100}],
        tax_amount=0, total=2900),
}


@pytest.mark.parametrize("body", SCHEMA_ACCEPTS.values(), ids=SCHEMA_ACCEPTS.keys())
def test_a_body_the_schema_accepts_is_accepted(api: Api, doc, body):
    # These also satisfy the rules the schema can only describe (total adds up, dates in order,
    # a real currency), so the API must take them.
    assert validator(doc, request_schema(doc)).is_valid(body)
    response = api.post("/invoices", json=body)
    assert response.status_code == 201, response.get_json()
    assert_documented(doc, "/invoices", "post", response)


def test_the_cross_field_rules_are_described_in_the_schema(doc):
    description = doc["components"]["schemas"]["InvoiceIn"]["description"]
    for rule in ("total", "tax_amount", "due_date", "ISO 4217", "min_partial_amount"):
        assert rule in description

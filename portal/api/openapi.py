"""``/api/v1/openapi.json``: an OpenAPI 3.1 document generated from the models the API uses."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import jsonify
from pydantic.json_schema import models_json_schema

from payments.disputes.models import STATUSES as DISPUTE_STATUSES
from payments.invoicing.schemas import InvoiceIn
from payments.invoicing.status import STATUSES
from payments.ledger.models import PAYMENT_STATUSES
from portal.api import bp, paging
from portal.api.responses import (
    CreditNoteList,
    CreditNoteOut,
    DisputeList,
    DisputeOut,
    ErrorOut,
    InvoiceList,
    InvoiceOut,
    PaymentList,
)
from portal.urls import MAX_ROW_ID

REF = "#/components/schemas/{model}"
# Every list endpoint pages the same way (portal/api/paging.py).
_PAGE_PARAMETERS = (
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {
        "type": "integer", "minimum": 1, "maximum": paging.MAX_PAGE,
        "default": paging.DEFAULT_PAGE}},
)


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": REF.format(model=schema)}}}}


def _errors(*codes: int, missing: str = "invoice") -> dict[str, Any]:
    texts = {401: "Missing or invalid API key.", 404: f"No such {missing}.",
             409: "Conflicts with the invoice's state (void, or payments already made).",
             413: "Body larger than 1 MiB.", 415: "Body is not application/json.",
             422: "Validation failed; `error.fields` has one message per field."}
    return {str(c): {"description": texts[c], **_json("ErrorOut")} for c in codes}


def _row_id() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _owner_filters() -> list[dict[str, Any]]:
    """The ``customer`` and ``invoice`` filters of the dispute and credit note lists."""
    return [
        {"name": "customer", "in": "query", "schema": {"type": "string"},
         "description": "The customer's external_id."},
        {"name": "invoice", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
         "description": "The invoice's AR Portal id."},
    ]


def _disputes_paths() -> dict[str, Any]:
    return {
        "/disputes": {"get": {
            "operationId": "listDisputes",
            "summary": "List customers' disputes in id order, with their threads",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "string"},
                 "description": "Comma-separated: " + ", ".join(DISPUTE_STATUSES) + "."},
                *_owner_filters(), *_PAGE_PARAMETERS,
            ],
            "responses": {"200": {"description": "A page.", **_json("DisputeList")},
                          **_errors(401, 422)},
        }},
        "/disputes/{id}": {"get": {
            "operationId": "getDispute", "parameters": [_row_id()],
            "responses": {"200": {"description": "The dispute.", **_json("DisputeOut")},
                          **_errors(401, 404, missing="dispute")}}},
    }


def _credit_notes_paths() -> dict[str, Any]:
    pdf = {"description": "The credit note as a PDF.",
           "content": {"application/pdf": {"schema": {"type": "string",
                                                      "contentMediaType": "application/pdf"}}}}
    return {
        "/credit-notes": {"get": {
            "operationId": "listCreditNotes",
            "summary": "List credit notes in id order",
            "parameters": [*_owner_filters(), *_PAGE_PARAMETERS],
            "responses": {"200": {"description": "A page.", **_json("CreditNoteList")},
                          **_errors(401, 422)},
        }},
        "/credit-notes/{id}": {"get": {
            "operationId": "getCreditNote", "parameters": [_row_id()],
            "responses": {"200": {"description": "The credit note.", **_json("CreditNoteOut")},
                          **_errors(401, 404, missing="credit note")}}},
        "/credit-notes/{id}/pdf": {"get": {
            "operationId": "getCreditNotePdf", "parameters": [_row_id()],
            "responses": {"200": pdf, **_errors(401, 404, missing="credit note")}}},
    }


def _list_payments() -> dict[str, Any]:
    return {
        "operationId": "listPayments",
        "summary": "List payments in id order, with their allocations",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"type": "string"},
             "description": "Comma-separated: " + ", ".join(PAYMENT_STATUSES) + "."},
            {"name": "confirmed", "in": "query",
             "schema": {"type": "string", "enum": ["true", "false"]},
             "description": "true: only payments staff confirmed; false: only the others."},
            *_PAGE_PARAMETERS,
        ],
        "responses": {"200": {"description": "A page.", **_json("PaymentList")},
                      **_errors(401, 422)},
    }


def _invoices_paths() -> dict[str, Any]:
    one = {"200": {"description": "The invoice.", **_json("InvoiceOut")}}
    return {
        "/invoices": {
            "post": {
                "operationId": "upsertInvoice",
                "summary": "Create or update an invoice by external_id",
                "requestBody": {"required": True, **_json("InvoiceIn")},
                "responses": {
                    "201": {"description": "Created.", **_json("InvoiceOut")},
                    "200": {"description": "Updated, or unchanged.", **_json("InvoiceOut")},
                    **_errors(401, 409, 413, 415, 422),
                },
            },
            "get": {
                "operationId": "listInvoices",
                "summary": "List invoices in id order",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"},
                     "description": "Comma-separated: " + ", ".join(STATUSES) + "."},
                    {"name": "customer", "in": "query", "schema": {"type": "string"},
                     "description": "The customer's external_id."},
                    *_PAGE_PARAMETERS,
                ],
                "responses": {"200": {"description": "A page.", **_json("InvoiceList")},
                              **_errors(401, 422)},
            },
        },
        "/invoices/{id}": {"get": {
            "operationId": "getInvoice", "parameters": [_row_id()],
            "responses": {**one, **_errors(401, 404)}}},
        "/invoices/{id}/void": {"post": {
            "operationId": "voidInvoice", "parameters": [_row_id()],
            "responses": {**one, **_errors(401, 404, 409)}}},
        "/invoices/{id}/link": {"post": {
            "operationId": "rotatePayLink", "summary": "Replace the pay link; the old one dies",
            "parameters": [_row_id()], "responses": {**one, **_errors(401, 404)}}},
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once per process)."""
    _, top = models_json_schema(
        [(InvoiceIn, "validation"), (InvoiceOut, "serialization"),
         (InvoiceList, "serialization"), (PaymentList, "serialization"),
         (DisputeOut, "serialization"), (DisputeList, "serialization"),
         (CreditNoteOut, "serialization"), (CreditNoteList, "serialization"),
         (ErrorOut, "serialization")],
        ref_template=REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "AR Portal API", "version": "1",
                 "description": "Amounts are integer minor units of the invoice's currency."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": top["$defs"],
        },
        "paths": {**_invoices_paths(), "/payments": {"get": _list_payments()},
                  **_disputes_paths(), **_credit_notes_paths()},
    }


@bp.get("/openapi.json")
def openapi():
    """Serve the document (no key needed)."""
    return jsonify(document())

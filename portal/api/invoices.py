"""``/api/v1/invoices``: create-or-update, get, list, void, rotate the pay link."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from flask import current_app, jsonify, request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from payments import links
from payments.invoices import STATUSES, Conflict, status_clause, upsert_invoice, void_invoice
from payments.models import Customer, Invoice
from payments.schemas import parse_invoice
from portal import database
from portal.api import bp
from portal.api.serialize import invoices_json
from portal.errors import api_error
from portal.urls import MAX_ROW_ID

MAX_PAGE = 100


def _policy():
    return current_app.extensions["portal.links"]


def _find(session: Session, invoice_id: int, *, lock: bool = False) -> Invoice | None:
    return session.get(Invoice, invoice_id, with_for_update=lock)


def _one(session: Session, invoice: Invoice) -> dict:
    return invoices_json(session, [invoice])[0]


@bp.post("/invoices")
def upsert():
    """Create or update by ``external_id``: 201 when created, 200 when updated or unchanged."""
    if request.mimetype != "application/json":
        return api_error(415, "send the invoice as application/json")
    payload, errors = parse_invoice(request.get_data())
    if errors:
        return api_error(422, "the invoice is not valid", errors)

    def work(session: Session):
        result = upsert_invoice(session, payload, _policy())
        return result.outcome, _one(session, result.invoice)

    try:
        outcome, body = database.db().run(work)
    except Conflict as exc:
        return api_error(409, str(exc), {exc.field: str(exc)} if exc.field else None)
    return jsonify(body), 201 if outcome == "created" else 200


@bp.get("/invoices/<id:invoice_id>")
def get(invoice_id: int):
    """One invoice by its AR Portal id."""
    session = database.session()
    invoice = _find(session, invoice_id)
    if invoice is None:
        return api_error(404, "no such invoice")
    return jsonify(_one(session, invoice))


@bp.get("/invoices")
def list_invoices():
    """Invoices in id order, filtered by ``status`` (comma-separated) and ``customer``."""
    errors, query = {}, select(Invoice)
    statuses = [s for s in request.args.get("status", "").split(",") if s]
    if bad := [s for s in statuses if s not in STATUSES]:
        errors["status"] = f"unknown status {bad[0]!r}; use one of {', '.join(STATUSES)}"
    if statuses and not bad:
        today = datetime.now(UTC).date()
        query = query.where(or_(*(status_clause(s, today) for s in statuses)))
    if customer := request.args.get("customer"):
        query = query.join(Customer).where(Customer.external_id == customer)
    after = _decode_cursor(request.args.get("cursor"), errors)
    limit = _limit(request.args.get("limit"), errors)
    if errors:
        return api_error(422, "invalid query parameters", errors)
    session = database.session()
    rows = list(session.scalars(
        query.where(Invoice.id > after).order_by(Invoice.id).limit(limit + 1)
        .options(selectinload(Invoice.lines), selectinload(Invoice.customer))
    ))
    page, has_more = rows[:limit], len(rows) > limit
    return jsonify({
        "data": invoices_json(session, page),
        "has_more": has_more,
        "next_cursor": _encode_cursor(page[-1].id) if has_more else None,
    })


@bp.post("/invoices/<id:invoice_id>/void")
def void(invoice_id: int):
    """Void an invoice (idempotent); 409 once money has moved on it."""
    with database.db().transaction() as session:
        invoice = _find(session, invoice_id, lock=True)
        if invoice is None:
            return api_error(404, "no such invoice")
        try:
            void_invoice(session, invoice)
        except Conflict as exc:
            return api_error(409, str(exc))
        return jsonify(_one(session, invoice))


@bp.post("/invoices/<id:invoice_id>/link")
def rotate_link(invoice_id: int):
    """Replace the invoice's pay link: the old one stops working at once."""
    with database.db().transaction() as session:
        invoice = _find(session, invoice_id, lock=True)
        if invoice is None:
            return api_error(404, "no such invoice")
        links.issue(session, _policy().key, invoice_id=invoice.id, ttl=_policy().ttl)
        return jsonify(_one(session, invoice))


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, errors: dict[str, str]) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = raw.partition(":")
        # isdigit() alone lets "²" through, and int("²") raises: ASCII digits only.
        if version == "v1" and _is_number(value) and int(value) <= MAX_ROW_ID:
            return int(value)
    except (binascii.Error, UnicodeDecodeError):
        pass
    errors["cursor"] = "not a cursor returned by this API"
    return 0


def _limit(raw: str | None, errors: dict[str, str]) -> int:
    if raw is None:
        return 50
    if _is_number(raw) and 1 <= int(raw) <= MAX_PAGE:
        return int(raw)
    errors["limit"] = f"must be a whole number from 1 to {MAX_PAGE}"
    return 50


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 20

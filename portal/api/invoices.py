"""``/api/v1/invoices``: create-or-update, get, list, void, rotate the pay link."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, jsonify, request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from payments.disputes import resolving
from payments.invoicing.models import Customer, Invoice
from payments.invoicing.schemas import parse_invoice
from payments.invoicing.status import STATUSES, status_clause
from payments.invoicing.upsert import Conflict, upsert_invoice, void_invoice
from payments.links import tokens
from payments.paging import keyset
from payments.staff import audit
from portal import database, dispute_mail, tasks
from portal.api import bp, paging
from portal.api.serialize import invoices_json
from portal.errors import api_error

API_ACTOR = audit.Actor(None, "api")  # the ERP, through its API key


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
    errors: dict[str, str] = {}
    query = select(Invoice)
    if wanted := paging.statuses(STATUSES, errors):
        today = datetime.now(UTC).date()
        query = query.where(or_(*(status_clause(s, today) for s in wanted)))
    if customer := request.args.get("customer"):
        if "\x00" in customer:  # PostgreSQL refuses NUL in text: it would be a 500
            errors["customer"] = "must not contain NUL characters"
        query = query.join(Customer).where(Customer.external_id == customer)
    after, limit = paging.position(errors)
    if errors:
        return api_error(422, "invalid query parameters", errors)
    session = database.session()
    query = query.options(selectinload(Invoice.lines), selectinload(Invoice.customer))
    page = keyset(session, query, Invoice.id, after, limit)
    return paging.respond(page, lambda rows: invoices_json(session, rows))


@bp.post("/invoices/<id:invoice_id>/void")
def void(invoice_id: int):
    """Void an invoice (idempotent); 409 once money has moved on it. A dispute still open on
    it is resolved as voided, and the customer told."""
    email_id = None
    with database.db().transaction() as session:
        invoice = _find(session, invoice_id, lock=True)
        if invoice is None:
            return api_error(404, "no such invoice")
        try:
            void_invoice(session, invoice)
        except Conflict as exc:
            return api_error(409, str(exc))
        closed = resolving.close_on_void(session, API_ACTOR, invoice.id)
        if closed is not None:
            email_id = dispute_mail.queue_outcome(session, invoice, closed, None)
        body = _one(session, invoice)
    tasks.enqueue_email(current_app, email_id)
    return jsonify(body)


@bp.post("/invoices/<id:invoice_id>/link")
def rotate_link(invoice_id: int):
    """Replace the invoice's pay link: the old one stops working at once."""
    with database.db().transaction() as session:
        invoice = _find(session, invoice_id, lock=True)
        if invoice is None:
            return api_error(404, "no such invoice")
        tokens.issue(session, _policy().key, invoice_id=invoice.id, ttl=_policy().ttl)
        return jsonify(_one(session, invoice))

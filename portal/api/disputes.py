"""``/api/v1/disputes`` and ``/api/v1/credit-notes``: what the ERP books from customers'
disputes, read only (staff resolve them in the console).

The same conventions as ``GET /api/v1/invoices`` (id order, opaque cursor, ``limit``, 422 with
a message per field). A dispute carries the thread the customer sees and its files' metadata;
staff's internal notes (``dispute_notes``) are never read here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from payments.disputes.models import (
    REASONS,
    STATUSES,
    CreditNote,
    Dispute,
    DisputeAttachment,
    DisputeMessage,
)
from payments.invoicing.models import Customer, Invoice
from payments.paging import keyset
from portal import database
from portal.api import bp, paging
from portal.api.serialize import iso
from portal.customer.common import credit_note_response
from portal.errors import api_error
from portal.urls import MAX_ROW_ID


@bp.get("/disputes")
def list_disputes():
    """Disputes in id order, filtered by ``status`` (comma-separated), ``customer`` (its
    external_id) and ``invoice`` (its id)."""
    errors: dict[str, str] = {}
    query = select(Dispute)
    if wanted := paging.statuses(STATUSES, errors):
        query = query.where(Dispute.status.in_(wanted))
    query = _owned(query, Dispute, errors)
    after, limit = paging.position(errors)
    if errors:
        return api_error(422, "invalid query parameters", errors)
    session = database.session()
    page = keyset(session, query.options(selectinload(Dispute.lines)), Dispute.id, after, limit)
    return paging.respond(page, lambda rows: disputes_json(session, rows))


@bp.get("/disputes/<id:dispute_id>")
def get_dispute(dispute_id: int):
    """One dispute by its id, with its thread."""
    session = database.session()
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        return api_error(404, "no such dispute")
    return jsonify(disputes_json(session, [dispute])[0])


@bp.get("/credit-notes")
def list_credit_notes():
    """Credit notes in id order, filtered by ``customer`` (its external_id) and ``invoice``."""
    errors: dict[str, str] = {}
    query = _owned(select(CreditNote), CreditNote, errors)
    after, limit = paging.position(errors)
    if errors:
        return api_error(422, "invalid query parameters", errors)
    session = database.session()
    page = keyset(session, query, CreditNote.id, after, limit)
    return paging.respond(page, lambda rows: credit_notes_json(session, rows))


@bp.get("/credit-notes/<id:note_id>")
def get_credit_note(note_id: int):
    """One credit note by its id."""
    session = database.session()
    note = session.get(CreditNote, note_id)
    if note is None:
        return api_error(404, "no such credit note")
    return jsonify(credit_notes_json(session, [note])[0])


@bp.get("/credit-notes/<id:note_id>/pdf")
def credit_note_pdf(note_id: int):
    """The credit note as the customer gets it (a PDF)."""
    session = database.session()
    note = session.get(CreditNote, note_id)
    if note is None:
        return api_error(404, "no such credit note")
    return credit_note_response(session, note)


def _owned(query: Select, model: type[Dispute] | type[CreditNote],
           errors: dict[str, str]) -> Select:
    """``query`` narrowed by the ``customer`` (external_id) and ``invoice`` (id) arguments."""
    if customer := request.args.get("customer"):
        if "\x00" in customer:  # PostgreSQL refuses NUL in text: it would be a 500
            errors["customer"] = "must not contain NUL characters"
        else:
            query = query.join(Customer, Customer.id == model.customer_id).where(
                Customer.external_id == customer)
    raw = request.args.get("invoice")
    if raw:
        if raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= MAX_ROW_ID:
            query = query.where(model.invoice_id == int(raw))
        else:
            errors["invoice"] = "must be an invoice id (a whole number from 1)"
    return query


def _refs(session: Session, rows: list[Any]) -> tuple[dict[int, dict], dict[int, dict]]:
    """The invoices and customers of ``rows`` (disputes or credit notes), by id: two queries."""
    invoices = {r.id: {"id": r.id, "external_id": r.external_id, "number": r.number}
                for r in session.execute(select(Invoice.id, Invoice.external_id, Invoice.number)
                                         .where(Invoice.id.in_({x.invoice_id for x in rows})))}
    customers = {r.id: {"id": r.id, "external_id": r.external_id, "name": r.name}
                 for r in session.execute(select(Customer.id, Customer.external_id,
                                                 Customer.name)
                                          .where(Customer.id.in_({x.customer_id
                                                                  for x in rows})))}
    return invoices, customers


def _threads(session: Session, ids: list[int]) -> tuple[dict[int, list], dict[int, list],
                                                         dict[int, int]]:
    """Messages, attachment metadata and credit note ids of the disputes ``ids``, by dispute:
    three queries. Internal notes are not read."""
    messages: dict[int, list] = defaultdict(list)
    files: dict[int, list] = defaultdict(list)
    for m in session.scalars(select(DisputeMessage).where(DisputeMessage.dispute_id.in_(ids))
                             .order_by(DisputeMessage.id)):
        messages[m.dispute_id].append({
            "id": m.id, "from": "staff" if m.from_staff else "customer",
            "author": m.author, "body": m.body,
            "created_at": iso(m.created_at)})
    a = DisputeAttachment
    for f in session.execute(select(a.dispute_id, a.id, a.filename, a.content_type, a.size,
                                    a.sha256).where(a.dispute_id.in_(ids)).order_by(a.id)):
        files[f.dispute_id].append({"id": f.id, "filename": f.filename,
                                    "content_type": f.content_type, "size": f.size,
                                    "sha256": f.sha256})
    credits = dict(session.execute(select(CreditNote.dispute_id, CreditNote.id)
                                   .where(CreditNote.dispute_id.in_(ids))).all())
    return messages, files, credits


def disputes_json(session: Session, disputes: list[Dispute]) -> list[dict[str, Any]]:
    """Serialise ``disputes`` (lines loaded) with five queries for the whole page."""
    if not disputes:
        return []
    invoices, customers = _refs(session, disputes)
    messages, files, credits = _threads(session, [d.id for d in disputes])
    return [{
        "id": d.id, "status": d.status, "outcome": d.outcome, "reason": d.reason,
        "reason_text": REASONS[d.reason], "currency": d.currency, "amount": d.amount,
        "invoice": invoices[d.invoice_id], "customer": customers[d.customer_id],
        "lines": [{"position": ln.position, "description": ln.description,
                   "amount": ln.amount} for ln in d.lines],
        "messages": messages[d.id], "attachments": files[d.id],
        "resolution": _resolution(d, credits.get(d.id)),
        "created_at": iso(d.created_at), "updated_at": iso(d.updated_at),
    } for d in disputes]


def _resolution(d: Dispute, credit_note_id: int | None) -> dict[str, Any] | None:
    if d.outcome is None:
        return None
    return {"outcome_note": d.outcome_note,
            "new_due_date": d.new_due_date.isoformat() if d.new_due_date else None,
            "new_amount_due": d.new_amount_due, "credit_note_id": credit_note_id,
            "resolved_at": iso(d.resolved_at), "resolved_by": d.resolved_by}


def credit_notes_json(session: Session, notes: list[CreditNote]) -> list[dict[str, Any]]:
    """Serialise ``notes`` with two queries for the whole page."""
    if not notes:
        return []
    invoices, customers = _refs(session, notes)
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    return [{
        "id": n.id, "number": n.number, "currency": n.currency, "amount": n.amount,
        "invoice_due_after": n.invoice_due_after,
        "reason": n.reason,
        "lines": [{"description": ln["description"], "amount": ln["amount"]}
                  for ln in n.lines or []],
        "invoice": invoices[n.invoice_id], "customer": customers[n.customer_id],
        "dispute_id": n.dispute_id, "created_at": iso(n.created_at),
        "created_by": n.created_by, "pdf_url": f"{base}/api/v1/credit-notes/{n.id}/pdf",
    } for n in notes]

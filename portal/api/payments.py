"""``GET /api/v1/payments``: payments with their allocations, for the ERP to pick up.

The same conventions as ``GET /api/v1/invoices`` (id order, opaque cursor, ``limit``, 422 with a
message per field); allocations come from :func:`payments.confirmations.queue.describe`, so they
match the staff console's queue and its CSV export line for line.
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.confirmations.queue import describe
from payments.ledger.models import PAYMENT_STATUSES, Payment
from payments.paging import keyset
from portal import database
from portal.api import bp, paging
from portal.api.serialize import iso
from portal.errors import api_error

CONFIRMED = {"true": True, "false": False}


@bp.get("/payments")
def list_payments():
    """Payments in id order, filtered by ``status`` (comma-separated) and ``confirmed``."""
    errors: dict[str, str] = {}
    query = select(Payment)
    if wanted := paging.statuses(PAYMENT_STATUSES, errors):
        query = query.where(Payment.status.in_(wanted))
    if confirmed := request.args.get("confirmed"):
        if confirmed not in CONFIRMED:
            errors["confirmed"] = "must be true or false"
        elif CONFIRMED[confirmed]:
            query = query.where(Payment.confirmed_at.is_not(None))
        else:
            query = query.where(Payment.confirmed_at.is_(None))
    after, limit = paging.position(errors)
    if errors:
        return api_error(422, "invalid query parameters", errors)
    session = database.session()
    page = keyset(session, query, Payment.id, after, limit)
    return paging.respond(page, lambda rows: payments_json(session, rows))


def payments_json(session: Session, payments: list[Payment]) -> list[dict[str, Any]]:
    """Serialise ``payments`` with their allocations (a few queries for the whole page)."""
    out = []
    for described in describe(session, payments):
        p = described.payment
        out.append({
            "id": p.id, "payment_intent_id": p.payment_intent_id, "charge_id": p.charge_id,
            "status": p.status, "method": p.method, "currency": p.currency, "amount": p.amount,
            "amount_refunded": p.amount_refunded, "amount_disputed": p.amount_disputed,
            "confirmed_at": iso(p.confirmed_at), "confirmed_by": p.confirmed_by,
            "created_at": iso(p.created_at),
            "allocations": [{"invoice_id": line.invoice_id,
                             "external_id": line.invoice_external_id,
                             "number": line.invoice_number, "amount": line.amount,
                             "net_amount": line.net} for line in described.lines],
        })
    return out

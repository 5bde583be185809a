"""What the invoice and statement pages share: token limits, 404/410 handling, PDF responses."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, current_app, make_response, render_template, request
from flask.blueprints import BlueprintSetupState
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import NotFound

from payments.invoicing.models import Invoice
from payments.links import customer_pages
from payments.links.customer_pages import LinkState
from portal import database, pdf
from portal.customer import bp
from portal.extensions import limiter
from portal.security import no_store


def today():
    """The business date used for due/overdue arithmetic (UTC)."""
    return datetime.now(UTC).date()


def _renew_limit() -> str:
    return current_app.config["PORTAL_RENEW_RATE_LIMIT"]


renew_limit = limiter.limit(_renew_limit)


@bp.record_once
def _init_miss_counter(state: BlueprintSetupState) -> None:
    # Its own limiter (same storage: memory, or Redis shared by every worker) because only
    # misses count and a hit must never be refused; Flask-Limiter checks before the view runs.
    storage = storage_from_string(state.app.config["RATELIMIT_STORAGE_URI"])
    state.app.extensions["portal.token_misses"] = FixedWindowRateLimiter(storage)


def token_lookup(view: Callable[..., Any]) -> Callable[..., Any]:
    """Count unknown-token lookups per client address; past the budget they are answered 429.

    A valid link is always served, so customers behind an address someone scans from (an
    office NAT, a mobile carrier) still reach their invoice. Guessing is hopeless anyway
    (2^256 tokens): the budget stops scanners from costing us a lookup per request forever.
    """
    @functools.wraps(view)
    def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except NotFound:
            if not _miss_allowed():
                abort(429)
            raise
    return counted


def _miss_allowed() -> bool:
    counter = current_app.extensions["portal.token_misses"]
    budgets = parse_many(current_app.config["PORTAL_TOKEN_RATE_LIMIT"])
    # Hit every budget (no short-circuit) so each window counts this miss.
    return all([counter.hit(budget, "arportal-token-miss", request.remote_addr or "-")
                for budget in budgets])


@bp.after_request
def _no_store(response: Response) -> Response:
    return no_store(response)


def resolved_link(kind: str, token: str, view: bool = False) -> Any:
    """What a usable ``kind`` link (``"invoice"`` or ``"statement"``) opens: its row, or with
    ``view`` the page's view (the invoice in one query; the statement with its open invoices).

    Anything else ends the request here: an unknown, malformed, altered or revoked token is the
    one shared 404 (counted by :func:`token_lookup`), an expired one the 410 page that offers a
    fresh link.
    """
    session = database.session()
    if kind == "invoice" and view:
        state, found = customer_pages.load_invoice(session, token, today())
    else:
        resolve = {"invoice": customer_pages.resolve_invoice,
                   "statement": customer_pages.resolve_statement}[kind]
        state, found = resolve(session, token)
    if state is LinkState.NOT_FOUND:
        abort(404)
    if state is LinkState.EXPIRED:
        abort(make_response(render_template("expired.html", kind=kind, token=token), 410))
    if kind == "statement" and view:
        key = current_app.extensions["portal.links"].key
        return customer_pages.statement_view(session, found, key, today())
    return found


def credit_note_response(session, note) -> Response:
    """A credit note's PDF as a download (the caller decided who may have it)."""
    invoice = session.get(Invoice, note.invoice_id)
    return pdf_response(pdf.credit_note_pdf(note, invoice, invoice.customer),
                        f"credit-note-{note.number}")


def pdf_response(data: bytes, filename: str) -> Response:
    """Serve a PDF as a download with a filename safe for any header and file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "document"
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}.pdf"'
    return response

"""What the invoice and statement pages share: token limits, 404/410 handling, PDF responses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Response, abort, current_app, render_template

from payments.pages import LinkState
from portal.customer import bp
from portal.extensions import limiter
from portal.security import no_store


def today():
    """The business date used for due/overdue arithmetic (UTC)."""
    return datetime.now(UTC).date()


def _lookup_limit() -> str:
    return current_app.config["PORTAL_TOKEN_RATE_LIMIT"]


def _renew_limit() -> str:
    return current_app.config["PORTAL_RENEW_RATE_LIMIT"]


# Only misses (404) count: a customer paging through their own invoice is never throttled, while
# someone guessing tokens is stopped after a handful of tries.
token_lookup = limiter.limit(_lookup_limit, deduct_when=lambda resp: resp.status_code == 404)
renew_limit = limiter.limit(_renew_limit)


@bp.after_request
def _no_store(response: Response) -> Response:
    return no_store(response)


def check(state: LinkState, expired_template: str, **context):
    """Abort with the shared 404, or return the 410 page, unless the link is usable."""
    if state is LinkState.NOT_FOUND:
        abort(404)
    if state is LinkState.EXPIRED:
        return render_template(expired_template, **context), 410
    return None


def pdf_response(data: bytes, filename: str) -> Response:
    """Serve a PDF as a download with a filename safe for any header and file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "document"
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}.pdf"'
    return response

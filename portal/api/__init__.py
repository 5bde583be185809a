"""The integration API (``/api/v1``): bearer API keys, JSON in and out, minor units."""

from flask import Blueprint, g, request

from payments.staff import api_keys
from portal import database
from portal.errors import api_error

bp = Blueprint("api", __name__)

PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def _authenticate():
    # Runs before any lookup, so a caller without a valid key learns nothing about invoices.
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    found = None
    if scheme.lower() == "bearer" and key.strip():
        found = api_keys.authenticate(database.session(), key.strip())
    if found is not None:
        g.api_key_id = found.id
        if api_keys.needs_touch(found):
            with database.db().transaction() as session:
                api_keys.touch(session, found.id)
        return None
    response, status = api_error(401, "missing or invalid API key")
    response.headers["WWW-Authenticate"] = 'Bearer realm="ar-portal"'
    return response, status


from portal.api import disputes, invoices, openapi, payments  # noqa: E402,F401  (registers the routes)

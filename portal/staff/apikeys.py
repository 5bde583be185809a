"""``/staff/api-keys``: admins list, create (the key is shown once) and revoke API keys."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from payments.staff import api_keys as apikeys
from portal import database
from portal.staff import bp, session
from portal.staff.roles import require_role


@bp.get("/api-keys")
@require_role("admin")
def api_keys(error: str | None = None, status: int = 200):
    """Every API key: name, public prefix, created, last used, revoked."""
    keys = apikeys.list_keys(database.session())
    return render_template("staff/api_keys.html", keys=keys, error=error), status


@bp.post("/api-keys")
@require_role("admin")
def create_api_key():
    """Create a key and show it on this response only (it is not stored, and no-store keeps
    caches from holding it)."""
    name = request.form.get("name", "").strip()
    if not name or len(name) > 100:
        return api_keys("Give the key a name of at most 100 characters.", 422)
    with database.db().transaction() as tx:
        key, plaintext = apikeys.create(tx, name, session.actor())
    return render_template("staff/api_key_created.html", key=key, plaintext=plaintext), 201


@bp.post("/api-keys/<id:key_id>/revoke")
@require_role("admin")
def revoke_api_key(key_id: int):
    """Revoke a key: integrations using it get 401 from the next request on."""
    with database.db().transaction() as tx:
        if apikeys.revoke(tx, session.actor(), key_id) is None:
            abort(404)
    return redirect(url_for("staff.api_keys"), 303)

"""The role registry: which role each console route needs, enforced on every request.

``viewer`` reads; ``clerk`` also confirms payments and resolves exceptions; ``admin`` also
manages staff and API keys. :func:`require_role` marks a view and checks the role; a view of the
blueprint that carries no mark (and is not :func:`public`) is refused for everyone, so
forgetting the decorator fails closed instead of open.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, abort, current_app, render_template, request
from flask_login import current_user

from payments.staff.models import ROLES
from portal.security import no_store
from portal.staff import bp
from portal.staff.session import login_manager

ROLE_ATTR = "staff_role"
PUBLIC_ATTR = "staff_public"


def require_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a view: anonymous users go to the login page, too-low roles get a 403."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        setattr(guarded, ROLE_ATTR, role)
        return guarded

    return decorate


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that anyone may reach (the login page, and nothing else)."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def role_of(view: Callable[..., Any]) -> str | None:
    """The role a view requires, or None (public, or unmarked)."""
    return getattr(view, ROLE_ATTR, None)


@bp.before_request
def _fail_closed() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and role_of(view) is None and not getattr(view, PUBLIC_ATTR, False):
        abort(403)


@bp.after_request
def _private(response: Response) -> Response:
    # Console pages show customers' balances and staff details: no cache keeps a copy.
    return no_store(response)


@bp.errorhandler(403)
def _forbidden(_exc):
    return render_template("staff/forbidden.html"), 403

"""The AR staff console at ``/staff/``: login, dashboard, staff users, API keys, audit log.

Every route states the least role it needs (:func:`portal.staff.roles.require_role`); a route that
forgets is refused for everyone (the blueprint fails closed), and a test walks the URL map. One
module per concern: ``session`` (Flask-Login wiring), ``roles``, ``auth`` (login and logout),
``dashboard``, ``users``, ``apikeys``, ``audit_log``, ``confirmations`` (the payments to confirm and
the ERP export), ``exceptions`` (the exceptions queue and its actions), ``disputes`` (the
customers' commercial disputes and their resolutions), ``background`` (the task queue and failed
events), ``my_sessions`` (one's own signed-in sessions).
"""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

from portal.staff import (  # noqa: E402,F401  (routes)
    apikeys,
    audit_log,
    auth,
    background,
    collections,
    confirmations,
    customers,
    dashboard,
    disputes,
    exceptions,
    invoices,
    my_sessions,
    reminders,
    roles,
    users,
    worklist,
)
from portal.staff.session import init_app  # noqa: E402,F401

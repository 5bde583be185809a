"""Customer pages: the invoice (``/i/<token>``) and the statement (``/s/<token>``).

No login: the token in the URL is the capability. Every response here is ``no-store``; unknown,
malformed and revoked tokens all get the same 404, and only misses count against the rate limit.
"""

from flask import Blueprint

bp = Blueprint("customer", __name__)

from portal.customer import (  # noqa: E402,F401  (routes)
    dispute,
    invoice,
    pay,
    returning,
    statement,
)

"""The baseline of ``bench/pages.py``: the portal's invoice page rendered from memory.

Same Jinja template (``portal/templates/invoice.html``), same filters and template globals
(:func:`portal.templating.init_app`), same view class and the same bench invoices as the seeded
database, but no database, no rate limiter, no CSRF and no after-request hooks. Served by
``gunicorn -w 2 'bench.baseline:app_from_env()'`` with ``BENCH_PATHS`` (the token file),
``BENCH_ANCHOR`` and ``BENCH_INVOICES``.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Blueprint, Flask, abort, render_template

import portal
from bench import data
from payments.disputes.models import REASONS
from payments.invoicing.status import status_of
from payments.links.customer_pages import InvoiceView
from portal import config, templating

PORTAL = Path(portal.__file__).parent


def create_app(paths_file: str, anchor: date, invoices: int) -> Flask:
    """A Flask app that serves ``/i/<token>`` for the tokens listed in ``paths_file``."""
    app = Flask(__name__, template_folder=str(PORTAL / "templates"),
                static_folder=str(PORTAL / "static"))
    app.config.update(config.load(os.environ.get("PORTAL_INSTANCE_PATH", "instance")))
    templating.init_app(app)
    app.jinja_env.globals["payments_enabled"] = False  # as in the portal without Stripe keys
    # The page's dispute form carries a CSRF token; a fixed one here (no session).
    app.jinja_env.globals["csrf_token"] = lambda: "bench-csrf-token"
    views = load_views(paths_file, anchor, invoices)
    base = app.config["PORTAL_BASE_URL"].rstrip("/")
    bp = Blueprint("customer", __name__)

    @bp.get("/i/<token>")
    def invoice_page(token: str):
        view = views.get(token)
        if view is None:
            abort(404)
        return render_template("invoice.html", inv=view, token=token, pay_url=f"{base}/i/{token}",
                               threads=[], disputed=0, credited=0, reasons=REASONS)

    def nowhere(**_kwargs):  # only for url_for() in the template
        abort(404)

    for rule, endpoint in (("/i/<token>/pdf", "invoice_pdf"), ("/i/<token>/dispute",
                                                                "dispute_raise")):
        bp.add_url_rule(rule, endpoint, nowhere)

    app.register_blueprint(bp)
    return app


def load_views(paths_file: str, anchor: date, invoices: int) -> dict[str, InvoiceView]:
    """``token -> InvoiceView`` for every ``/i/<token> <index>`` line of ``paths_file``."""
    today = datetime.now(UTC).date()
    views = {}
    for line in Path(paths_file).read_text().splitlines():
        path, index = line.split()
        i = int(index)
        row = data.invoice(i, invoices, anchor)
        row["customer_name"] = data.customer_name(row["customer_id"])
        row["customer_external_id"] = f"CUST-{row['customer_id']:06d}"
        status, days = status_of(total=row["total"], amount_paid=row["amount_paid"],
                                 voided=False, due_date=row["due_date"], today=today)
        views[path.rsplit("/", 1)[1]] = InvoiceView(row, data.lines(i), status, days)
    return views


def app_from_env() -> Flask:
    """The app gunicorn serves (``bench.baseline:app_from_env()``), configured by the env."""
    return create_app(os.environ["BENCH_PATHS"], date.fromisoformat(os.environ["BENCH_ANCHOR"]),
                      int(os.environ["BENCH_INVOICES"]))

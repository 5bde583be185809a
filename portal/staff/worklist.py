"""``/staff/worklist``: who to contact today (:mod:`payments.collections.worklist`), and the
forms that work it: log a call, record or cancel a promise to pay, mark a task done.

Everyone with a role reads; clerks act. Each form may say where to go back to (``next``: a
console path only, never another site); a refusal re-renders that page with the message and
each field's (422), the form still filled in. The forms are partial templates
(``staff/_call_form.html``, ``staff/_promise_form.html``) any console page can include; a
refused form finds its values and messages in ``g.collections_form``.
"""

from __future__ import annotations

import re
from datetime import date

from flask import abort, flash, g, redirect, render_template, request, url_for

from payments.collections import calls, promises
from payments.collections import worklist as work
from payments.invoicing.amounts import AmountError, parse_amount
from payments.invoicing.models import Customer
from payments.money import is_currency
from portal import database
from portal.staff import bp, customers, session
from portal.staff.invoices import today
from portal.staff.roles import require_role

FORM_ERRORS = (calls.CallError, promises.PromiseError)
_CUSTOMER_PAGE = re.compile(r"/staff/customers/(\d+)(?:[?#].*)?")


@bp.get("/worklist")
@require_role("viewer")
def worklist(error: str | None = None, status: int = 200):
    """Customers to contact today, most urgent first, with their tasks and the call forms."""
    found = work.load(database.session(), today())
    return render_template("staff/worklist.html", wl=found, error=error,
                           limit=work.LIMIT), status


@bp.post("/customers/<id:customer_id>/calls")
@require_role("clerk")
def log_call(customer_id: int):
    """Log a call with its outcome (a promise outcome records the promise; a task's call
    closes the task), audited."""
    _known(customer_id)
    form, outcome = request.form, request.form.get("outcome", "")
    contact_id = _int(form.get("contact_id"))
    try:
        terms = _terms(form, form.get("note")) if outcome == "promise" else None
        with database.db().transaction() as tx:
            calls.log(tx, session.actor(), customer_id, outcome, form.get("note"),
                      contact_id, terms, today())
    except FORM_ERRORS as exc:
        return _again("call", exc, customer_id, contact_id)
    flash(f"Call logged: {calls.OUTCOME_WORDS[outcome]}.", "notice")
    return _back()


@bp.post("/customers/<id:customer_id>/promises")
@require_role("clerk")
def record_promise(customer_id: int):
    """Record a promise to pay (replacing the customer's open one in that currency),
    audited; reminders pause until the day after its date."""
    _known(customer_id)
    try:
        terms = _terms(request.form, request.form.get("note"))
        with database.db().transaction() as tx:
            promises.record(tx, session.actor(), customer_id, terms.amount, terms.currency,
                            terms.promised_on, terms.contact, terms.note, today())
    except FORM_ERRORS as exc:
        return _again("promise", exc, customer_id)
    flash(f"Promise recorded: reminders pause until after {terms.promised_on}.", "notice")
    return _back()


@bp.post("/promises/<id:promise_id>/cancel")
@require_role("clerk")
def cancel_promise(promise_id: int):
    """Cancel an open promise (reminders resume), audited."""
    try:
        with database.db().transaction() as tx:
            promises.cancel(tx, session.actor(), promise_id)
    except FORM_ERRORS as exc:
        return _again("cancel", exc)
    flash("Promise canceled: reminders resume.", "notice")
    return _back()


@bp.post("/contacts/<id:contact_id>/done")
@require_role("clerk")
def contact_done(contact_id: int):
    """Mark a task (a letter, an escalation) done without a call, audited."""
    try:
        with database.db().transaction() as tx:
            calls.close_task(tx, session.actor(), contact_id)
    except FORM_ERRORS as exc:
        return _again("done", exc, None, contact_id)
    flash("Task marked done.", "notice")
    return _back()


@bp.context_processor
def _forms() -> dict:
    # For the partial forms, on whichever console page includes them.
    return {"call_outcomes": calls.OUTCOME_WORDS, "collections_form": form_state,
            "collections_next": _here()}


def _here() -> str:
    """The page the forms come back to: this one, or (re-rendered after a refused form) the
    one the refused form came from."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    return _next() or url_for("staff.worklist")


def form_state(kind: str, customer_id: int | None, contact_id: int | None = None) -> dict:
    """What a refused form of ``kind`` for this customer (and task) had: ``values`` typed and
    ``errors`` per field; empty for every other form on the page."""
    state = g.get("collections_form")
    if state and (state["kind"], state["customer_id"], state["contact_id"]) == \
            (kind, customer_id, contact_id):
        return state
    return {"errors": {}, "values": {}}


def _known(customer_id: int) -> None:
    if database.session().get(Customer, customer_id) is None:
        abort(404)


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    # ASCII digits only ("²".isdigit() is true); ids fit a 64-bit column.
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def _terms(form, note: str | None) -> promises.Terms:
    """The promise's fields from the form, or :class:`PromiseError` for each one unreadable."""
    fields: dict[str, str] = {}
    currency = form.get("currency", "").strip().upper()
    amount, promised_on = 0, None
    if not is_currency(currency):
        fields["currency"] = "Enter the currency's code, like USD."
    else:
        try:
            amount = parse_amount(form.get("amount", ""), currency)
        except AmountError as exc:
            fields["amount"] = f"Amount: {exc}."
    try:
        promised_on = date.fromisoformat(form.get("promised_on", "").strip())
    except ValueError:
        fields["promised_on"] = "Enter the promised date (YYYY-MM-DD)."
    if fields or promised_on is None:
        raise promises.PromiseError(" ".join(fields.values()), fields)
    return promises.Terms(amount, currency, promised_on, form.get("contact"), note)


def _again(kind: str, exc: Exception, customer_id: int | None = None,
           contact_id: int | None = None):
    """Re-render the page the form was on, with its messages and what was typed (422)."""
    g.collections_form = {"kind": kind, "customer_id": customer_id, "contact_id": contact_id,
                          "errors": getattr(exc, "fields", {}),
                          "values": {k: v[:promises.MAX_NOTE * 2] for k, v in
                                     request.form.items() if k != "csrf_token"}}
    page = _CUSTOMER_PAGE.fullmatch(_next() or "")
    if page:
        return customers.customer(int(page.group(1)), str(exc), 422)
    return worklist(str(exc), 422)


def _next() -> str | None:
    """The form's ``next`` if it is a console path (not another site: ``//evil``, ``/\\x``)."""
    target = request.form.get("next", "")
    if (target.startswith("/staff/") and "\\" not in target
            and not any(c.isspace() for c in target)):
        return target
    return None


def _back():
    return redirect(_next() or url_for("staff.worklist"), 303)

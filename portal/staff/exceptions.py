"""``/staff/exceptions``: the exceptions queue and the actions that resolve each kind.

Everyone with a role reads; clerks and admins act. Each action is one function of
:mod:`payments.resolutions` (a ledger entry, or a refund through the Stripe boundary) and is
audited with its before and after in the transaction that does it. A refund is three steps with
no transaction open during the Stripe call, each audited. The domain's refusals come back as
form errors (422) on the exception's page; a double submit finds the exception resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from payments.invoicing.amounts import AmountError, parse_amount
from payments.ledger.models import EXCEPTION_KINDS
from payments.money import format_money, to_decimal
from payments.resolutions import actions, queue, refunds
from payments.resolutions.core import open_exception
from payments.staff import audit
from portal import database
from portal.staff import bp, session
from portal.staff.confirmations import page_cursor
from portal.staff.roles import require_role

PAGE_SIZE = 50
# The largest write-off a clerk may make, in minor units; PORTAL_WRITE_OFF_MAX overrides it
# (an integer for every currency, or a mapping of currency code to integer).
DEFAULT_WRITE_OFF_MAX = 500
TARGET = "reconciliation_exception"


class FormError(ValueError):
    """What the clerk typed cannot be used; the message says why."""


def write_off_max(currency: str) -> int:
    """The largest amount that may be written off in ``currency`` (minor units)."""
    setting = current_app.config.get("PORTAL_WRITE_OFF_MAX", DEFAULT_WRITE_OFF_MAX)
    if isinstance(setting, Mapping):
        return int(setting.get(currency, DEFAULT_WRITE_OFF_MAX))
    return int(setting)


@bp.get("/exceptions")
@require_role("viewer")
def exceptions():
    """Open exceptions oldest first (``status=resolved|all`` for the history, ``kind=`` to
    narrow), a page at a time."""
    status = request.args.get("status", "open")
    status = status if status in queue.STATUSES else "open"
    kind = request.args.get("kind") or None
    kind = kind if kind in EXCEPTION_KINDS else None
    cursor = page_cursor(request.args.get("cursor"))
    page = queue.page(database.session(), status, kind, cursor, PAGE_SIZE)
    args = {k: v for k, v in (("status", status), ("kind", kind)) if v and v != "open"}
    return render_template("staff/exceptions.html", page=page, status=status, kind=kind,
                           kinds=EXCEPTION_KINDS, statuses=queue.STATUSES,
                           args=args, cursor=cursor)


@bp.get("/exceptions/<id:exception_id>")
@require_role("viewer")
def exception(exception_id: int, error: str | None = None, status: int = 200):
    """One exception: its payment, invoices, suggested matches, amounts, and (for clerks) the
    actions that fit it; ``error`` is the refusal of the action just tried."""
    found = queue.detail(database.session(), exception_id)
    if found is None:
        abort(404)
    currency = found.currency
    return render_template("staff/exception.html", d=found, error=error, currency=currency,
                           form=request.form if error else {},
                           write_off_max=write_off_max(currency),
                           major=lambda amount: to_decimal(amount, currency)), status


def _loaded(exception_id: int) -> queue.Detail:
    found = queue.detail(database.session(), exception_id)
    if found is None:
        abort(404)
    return found


def _amount(found: queue.Detail, default: int | None = None) -> int:
    raw = request.form.get("amount", "").strip()
    if not raw and default:
        return default
    try:
        return parse_amount(raw, found.currency)
    except (AmountError, ValueError) as exc:
        raise FormError(f"Amount: {exc}.") from exc


def _act(exception_id: int, action: str, work: Callable[[Session, str], actions.Resolved]):
    """Run one action and audit it in the same transaction; refusals re-render the page."""
    actor = session.actor()
    try:
        with database.db().transaction() as tx:
            # The domain's first check, before the form is read: a double submit is told the
            # exception is resolved, not that its (no longer shown) form is incomplete.
            open_exception(tx, exception_id, action)
            done = work(tx, actor.label)
            _audit(tx, actor, done)
    except (actions.ResolutionError, FormError) as exc:
        return exception(exception_id, _sentence(exc), 422)
    return _resolved(done)


def _audit(tx: Session, actor: audit.Actor, done: actions.Resolved) -> None:
    after = {**done.after, "ledger_entry_ids": list(done.entry_ids)}
    audit.record(tx, actor, f"exception.{done.action}", (TARGET, done.exception_id),
                 done.before, after)
    undone = (done.after.get("resolution") or {}).get("unconfirmed")
    if undone:  # the payment's allocations changed: back to the confirmation queue
        audit.record(tx, actor, "payment.unconfirm", ("payment", undone["payment_id"]),
                     {k: undone[k] for k in ("confirmed_at", "confirmed_by")},
                     {"confirmed_at": None, "confirmed_by": None})


def _resolved(done: actions.Resolved):
    message = f"Exception #{done.exception_id} resolved: {done.action.replace('_', ' ')}."
    if done.follow_up_id:
        message += f" What is left is in exception #{done.follow_up_id}."
    if (done.after.get("resolution") or {}).get("unconfirmed"):
        message += " Its payment is back in the confirmation queue."
    flash(message, "success")
    return redirect(url_for("staff.exception", exception_id=done.exception_id), 303)


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


@bp.post("/exceptions/<id:exception_id>/apply")
@require_role("clerk")
def exception_apply(exception_id: int):
    """Apply the money to an open invoice: a suggestion, or a number typed in; a blank
    amount applies as much as the invoice owes and the exception holds."""
    found = _loaded(exception_id)

    def work(tx: Session, actor: str) -> actions.Resolved:
        invoice_id, owed = _target_invoice(tx, found)
        amount = _amount(found, min(found.available, owed) if owed > 0 else None)
        return actions.apply_to_invoice(tx, exception_id, invoice_id, amount, actor)

    return _act(exception_id, "apply_to_invoice", work)


def _target_invoice(tx: Session, found: queue.Detail) -> tuple[int, int]:
    typed = request.form.get("invoice_number", "").strip()[:100]
    chosen = request.form.get("invoice_id", "")
    currency = found.payment.currency if found.payment else found.currency
    if typed:
        try:
            invoice = queue.invoice_by_reference(tx, typed, currency)
        except queue.NoSuchInvoice as exc:
            raise FormError(str(exc)) from exc
        return invoice.id, invoice.total - invoice.amount_paid - invoice.amount_pending
    for suggestion in found.suggestions:
        if chosen == str(suggestion.invoice.id):
            return suggestion.invoice.id, suggestion.owed
    raise FormError("Choose one of the suggested invoices, or type an invoice number.")


@bp.post("/exceptions/<id:exception_id>/refund")
@require_role("clerk")
def exception_refund(exception_id: int):
    """Refund through Stripe (a blank amount: all the money left, or the refund in progress);
    each step audited; a retry of the same amount resumes, never refunds twice."""
    found = _loaded(exception_id)
    gateway = current_app.extensions.get("portal.stripe")
    if gateway is None:
        return exception(exception_id, "Refunds need Stripe: STRIPE_SECRET_KEY is not set.", 422)
    actor = session.actor()
    try:
        typed = request.form.get("amount", "").strip()
        done = refunds.refund(database.db().writer, gateway, exception_id,
                              _amount(found) if typed else None, actor.label,
                              _RefundAudit(actor))
    except refunds.StripeUnanswered:
        return exception(exception_id, "Stripe could not be reached; the refund may have "
                         "been made. Retry the same amount to find out.", 502)
    except (actions.ResolutionError, FormError) as exc:
        return exception(exception_id, _sentence(exc), 422)
    return _resolved(done)


class _RefundAudit:
    """Audits each step of a refund (:class:`payments.resolutions.refunds.RefundAudit`)."""

    def __init__(self, actor: audit.Actor) -> None:
        self.actor = actor

    def requested(self, tx: Session, intent: refunds.RefundRequest) -> None:
        audit.record(tx, self.actor, "exception.refund_request", (TARGET, intent.exception_id),
                     intent.before, intent.after)

    def refused(self, tx: Session, intent: refunds.RefundRequest, message: str) -> None:
        audit.record(tx, self.actor, "exception.refund_refused", (TARGET, intent.exception_id),
                     intent.after, {"resolution": None, "stripe_error": message[:500]})

    def resolved(self, tx: Session, done: actions.Resolved) -> None:
        _audit(tx, self.actor, done)


@bp.post("/exceptions/<id:exception_id>/credit")
@require_role("clerk")
def exception_credit(exception_id: int):
    """Keep all the money left as a credit of the payment's customer."""
    _loaded(exception_id)
    return _act(exception_id, "keep_as_credit",
                lambda tx, actor: actions.keep_as_credit(tx, exception_id, actor))


@bp.post("/exceptions/<id:exception_id>/write-off")
@require_role("clerk")
def exception_write_off(exception_id: int):
    """Write off a small difference (at most PORTAL_WRITE_OFF_MAX; default: all of it)."""
    found = _loaded(exception_id)
    currency, locale = found.currency, current_app.config["PORTAL_LOCALE"]
    limit = write_off_max(currency)

    def work(tx: Session, actor: str) -> actions.Resolved:
        amount = _amount(found, found.write_off_room)
        if amount > limit:
            raise FormError(f"{format_money(amount, currency, locale)} is more than the "
                            f"{format_money(limit, currency, locale)} a write-off may be.")
        return actions.write_off(tx, exception_id, amount, actor, limit)

    return _act(exception_id, "write_off", work)


@bp.post("/exceptions/<id:exception_id>/dismiss")
@require_role("clerk")
def exception_dismiss(exception_id: int):
    """Close the exception without moving money; the reason is required."""
    _loaded(exception_id)
    reason = request.form.get("reason", "")[:2000]
    return _act(exception_id, "dismiss",
                lambda tx, actor: actions.dismiss(tx, exception_id, reason, actor))

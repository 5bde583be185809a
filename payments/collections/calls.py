"""Calls staff make to customers, and the tasks the reminder tick leaves for staff.

:func:`log` records a call with its outcome (a timeline entry), audited (``call.log``). A call
made for a task (a ``call`` contact the tick opened) closes that task; a call whose outcome is
a promise records the promise (:mod:`payments.collections.promises`) in the same transaction;
and any call after a broken promise follows it up, so the worklist stops raising it. Letters
and escalations are done without a call: :func:`close_task` (audited, ``contact.done``).

A task closes with a conditional UPDATE (only while ``open``): of two clerks working the same
task at once, the second is told who did it, and nothing of theirs is written.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections import promises
from payments.collections.log_models import CALL_OUTCOMES, CallLog, Contact
from payments.invoicing.models import Customer
from payments.staff import audit

MAX_NOTE = 4000
TASK_CHANNELS = ("call", "letter", "escalate")
OUTCOME_WORDS = {"reached": "reached", "left_message": "left a message",
                 "promise": "promised to pay", "dispute": "disputes the invoice",
                 "wrong_contact": "wrong contact"}


class CallError(ValueError):
    """A call that cannot be logged, or a task that cannot be closed; ``fields`` say what is
    wrong, per form field (``outcome``, ``note``, ``contact_id``, the promise's fields)."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


TALKED = ("reached", "promise", "dispute")  # outcomes where someone spoke with the customer


def log(session: Session, actor: audit.Actor, customer_id: int, outcome: str,
        note: str | None, contact_id: int | None = None,
        promise: promises.Terms | None = None, today: date | None = None) -> CallLog:
    """Log ``actor``'s call to the customer, audited (see the module).

    ``promise`` is required when the outcome is ``promise`` (and refused otherwise); the
    promise's note defaults to the call's. ``today`` (UTC by default) bounds its date.
    Raises :class:`CallError` or :class:`~payments.collections.promises.PromiseError`;
    the caller's transaction then rolls back, so nothing is written.
    """
    note = (note or "").replace("\r\n", "\n").strip() or None
    _check(actor, outcome, note, promise)
    if session.get(Customer, customer_id) is None:
        raise CallError("There is no such customer.")
    today = today or utcnow().date()
    # A promise whose day just passed is settled first, so this call follows it up if broken.
    promises.settle_due(session, today, customer_id)
    # Only a conversation follows a broken promise up: a message left, or a wrong number,
    # leaves the account on the worklist.
    followed = promises.follow_up(session, customer_id) if outcome in TALKED else []
    promised = None
    if promise is not None:
        promised = promises.record(session, actor, customer_id, promise.amount,
                                   promise.currency, promise.promised_on, promise.contact,
                                   promise.note or note, today)
    if contact_id is not None:
        _close(session, actor, contact_id, customer_id)
    call = CallLog(customer_id=customer_id, contact_id=contact_id,
                   promise_id=promised.id if promised else None, outcome=outcome, note=note,
                   author_id=actor.id, author_email=actor.label, created_at=utcnow())
    session.add(call)
    session.flush()
    audit.record(session, actor, "call.log", ("customer", customer_id), None,
                 {"call_id": call.id, "outcome": outcome, "note": note,
                  "contact_id": contact_id, "promise_id": call.promise_id,
                  "followed_up": followed})
    return call


def _check(actor: audit.Actor, outcome: str, note: str | None,
           promise: promises.Terms | None) -> None:
    if actor.id is None:
        raise CallError("Only a staff user can log a call.")
    fields: dict[str, str] = {}
    if outcome not in CALL_OUTCOMES:
        fields["outcome"] = "Choose what came of the call."
    elif outcome == "promise" and promise is None:
        fields["amount"] = "A promise to pay needs its amount, currency and date."
    elif outcome != "promise" and promise is not None:
        fields["outcome"] = "Only a call with the outcome “promised to pay” records a promise."
    if note is not None and len(note) > MAX_NOTE:
        fields["note"] = f"The note can be at most {MAX_NOTE} characters (it has {len(note)})."
    if fields:
        raise CallError(" ".join(fields.values()), fields)


def close_task(session: Session, actor: audit.Actor, contact_id: int) -> Contact:
    """Mark an open task done without a call (a letter printed and mailed, an escalation
    handed on), audited; :class:`CallError` if it is not an open task."""
    if actor.id is None:
        raise CallError("Only a staff user can close a task.")
    task = session.get(Contact, contact_id)
    if task is None:
        raise CallError("There is no such task.", {"contact_id": "There is no such task."})
    return _close(session, actor, contact_id, task.customer_id)


def _close(session: Session, actor: audit.Actor, contact_id: int, customer_id: int) -> Contact:
    """Close the customer's open task ``contact_id`` (conditional: see the module)."""
    now = utcnow()
    done = session.execute(
        update(Contact).where(Contact.id == contact_id, Contact.customer_id == customer_id,
                              Contact.status == "open", Contact.channel.in_(TASK_CHANNELS))
        .values(status="done", done_at=now, done_by=actor.label)
        .execution_options(synchronize_session=False))
    task = session.scalars(select(Contact).where(Contact.id == contact_id)
                           .execution_options(populate_existing=True)).first()
    if done.rowcount != 1:
        raise CallError(_not_open(task, customer_id), {"contact_id": _not_open(task, customer_id)})
    audit.record(session, actor, "contact.done", ("customer", customer_id),
                 {"contact_id": contact_id, "channel": task.channel, "status": "open"},
                 {"contact_id": contact_id, "channel": task.channel, "status": "done"})
    return task


def _not_open(task: Contact | None, customer_id: int) -> str:
    if task is None or task.customer_id != customer_id or task.channel not in TASK_CHANNELS:
        return "That is not one of this customer's tasks."
    if task.status == "done":
        return f"This task is already done ({task.done_by} marked it done)."
    return f"This task is no longer open: it is {task.status}."

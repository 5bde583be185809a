"""Staff's settings of how one customer is chased: its own policy or "do not chase", learned
timing on or off, preferred channel, contact emails, time zone, contact hours and business
days; its contact windows; and "do not chase" on single invoices.

Every change is checked first (a :class:`ProfileError` names each field that is wrong, and
nothing is written), locks the row it changes, and is audited in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections import windows
from payments.collections.models import (
    CollectionProfile,
    ContactWindow,
    InvoiceChase,
    ReminderPolicy,
)
from payments.invoicing.models import Customer, Invoice
from payments.staff import audit

PREFERRED_CHANNELS = ("email", "letter", "call")
MAX_EMAILS = 5
MAX_WINDOWS = 20
MAX_LABEL = 200
# The rule the invoice API holds a customer's email to (payments.invoicing.schemas.Email).
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 320


class ProfileError(ValueError):
    """Settings that cannot be saved; ``fields`` say what is wrong, per form field."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


@dataclass(frozen=True)
class Settings:
    """The checked values, as the profile stores them."""

    policy_id: int | None
    do_not_chase: bool
    learn_timing: bool
    preferred_channel: str | None
    contact_emails: str | None
    time_zone: str | None
    hours_start: int
    hours_end: int
    business_days: str


def parse_emails(text: str | None) -> list[str]:
    """Addresses from text separated by commas, semicolons or line breaks, duplicates
    (in any case) dropped; :class:`ValueError` names the first one that is not an address."""
    found: list[str] = []
    for part in re.split(r"[,;\n]", text or ""):
        address = part.strip()
        if not address:
            continue
        if len(address) > MAX_EMAIL_LENGTH or not EMAIL.match(address):
            raise ValueError(f"{address[:80]!r} is not an email address.")
        if address.lower() not in (a.lower() for a in found):
            found.append(address)
    if len(found) > MAX_EMAILS:
        raise ValueError(f"Give at most {MAX_EMAILS} addresses.")
    return found


def _hour(value: int | str | None, name: str, fields: dict[str, str]) -> int:
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 24:
        fields[name] = "Give an hour from 0 to 24."
        return -1
    return int(text)


def _policy(session: Session, value: int | str | None, fields: dict[str, str]) -> int | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 10) \
            or session.get(ReminderPolicy, int(text)) is None:
        fields["policy_id"] = "Choose one of the policies."
        return None
    return int(text)


def check(session: Session, form: Mapping[str, object]) -> Settings:
    """The settings from ``form`` (a mapping of the field names of :class:`Settings`, values
    as a form sends them); :class:`ProfileError` with every field that is wrong."""
    fields: dict[str, str] = {}
    policy_id = _policy(session, form.get("policy_id"), fields)
    channel = str(form.get("preferred_channel") or "").strip() or None
    if channel is not None and channel not in PREFERRED_CHANNELS:
        fields["preferred_channel"] = "Choose email, letter or call."
    try:
        emails = parse_emails(str(form.get("contact_emails") or ""))
    except ValueError as exc:
        fields["contact_emails"], emails = str(exc), []
    zone_name = str(form.get("time_zone") or "").strip() or None
    days = ""
    try:
        if zone_name is not None:
            windows.zone(zone_name)
    except windows.WindowError as exc:
        fields["time_zone"] = str(exc)
    try:
        days = "".join(str(d) for d in sorted(windows.business_days(
            str(form.get("business_days") or ""))))
    except windows.WindowError as exc:
        fields["business_days"] = str(exc)
    start = _hour(form.get("hours_start"), "hours_start", fields)
    end = _hour(form.get("hours_end"), "hours_end", fields)
    if "hours_start" not in fields and "hours_end" not in fields and start >= end:
        fields["hours_end"] = "Contact hours end after they start."
    if fields:
        raise ProfileError("Some settings need fixing; nothing was saved.", fields)
    return Settings(policy_id, bool(form.get("do_not_chase")), bool(form.get("learn_timing")),
                    channel, ", ".join(emails) or None, zone_name, start, end, days)


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise ProfileError("There is no such customer.")
    return customer


def _describe(profile: CollectionProfile) -> dict:
    return {name: getattr(profile, name) for name in Settings.__dataclass_fields__}


def save(session: Session, actor: audit.Actor, customer_id: int,
         form: Mapping[str, object]) -> CollectionProfile:
    """Check and store the customer's settings (creating its profile), audited
    ``collections.profile_save`` with before and after."""
    settings = check(session, form)
    _customer(session, customer_id)  # locked: two first saves queue, not collide
    profile = session.get(CollectionProfile, customer_id, with_for_update=True)
    before = _describe(profile) if profile is not None else None
    if profile is None:
        profile = CollectionProfile(customer_id=customer_id)
        session.add(profile)
    for name in Settings.__dataclass_fields__:
        setattr(profile, name, getattr(settings, name))
    profile.updated_by = actor.label
    session.flush()
    audit.record(session, actor, "collections.profile_save", ("customer", customer_id),
                 before, _describe(profile))
    return profile


def _window_state(window: ContactWindow) -> dict:
    return {"window_id": window.id, "kind": window.kind, "start": window.start,
            "end": window.end, "label": window.label}


def _stored(parsed: windows.Window) -> tuple[str, str]:
    """The window's days as the table keeps them ("15", "12-24", "2027-03-01")."""
    def one(parts: tuple[int, ...]) -> str:
        return "-".join(f"{p:02d}" for p in parts) if len(parts) > 1 \
            else str(parts[0])
    return one(parsed.start), one(parsed.end)


def add_window(session: Session, actor: audit.Actor, customer_id: int, kind: str, start: str,
               end: str, label: str | None = None) -> ContactWindow:
    """Add days not to contact the customer (see :func:`windows.parse_window`), audited
    ``collections.window_add``."""
    if label is not None and len(label.strip()) > MAX_LABEL:
        raise ProfileError("The label is too long.", {"label": f"At most {MAX_LABEL} "
                                                                "characters."})
    try:
        parsed = windows.parse_window(kind, start or "", end or "", label)
    except windows.WindowError as exc:
        raise ProfileError(str(exc), {"window": str(exc)}) from None
    _customer(session, customer_id)
    count = session.scalar(select(func.count()).where(ContactWindow.customer_id == customer_id))
    if count >= MAX_WINDOWS:
        raise ProfileError(f"A customer has at most {MAX_WINDOWS} contact windows.")
    _leaves_a_day(session, customer_id, parsed)
    first, last = _stored(parsed)
    window = ContactWindow(customer_id=customer_id, kind=parsed.kind, start=first, end=last,
                           label=parsed.label)
    session.add(window)
    session.flush()
    audit.record(session, actor, "collections.window_add", ("customer", customer_id), None,
                 _window_state(window))
    return window


def _leaves_a_day(session: Session, customer_id: int, new: windows.Window) -> None:
    """Refuse a window that, with the customer's others, leaves no day within a year to
    contact the customer (every reminder would wait for ever)."""
    spans = [windows.parse_window(w.kind, w.start, w.end) for w in session.scalars(
        select(ContactWindow).where(ContactWindow.customer_id == customer_id))]
    rules = windows.Rules(windows.zone("UTC"), windows=(*spans, new))
    try:
        rules.first_open_day(utcnow().date())
    except windows.WindowError:
        message = "With this window no day is left to contact the customer within a year."
        raise ProfileError(message, {"window": message}) from None


def remove_window(session: Session, actor: audit.Actor, customer_id: int,
                  window_id: int) -> None:
    """Remove one of the customer's contact windows, audited ``collections.window_remove``."""
    _customer(session, customer_id)
    window = session.get(ContactWindow, window_id, with_for_update=True)
    if window is None or window.customer_id != customer_id:
        raise ProfileError("There is no such contact window.")
    before = _window_state(window)
    session.delete(window)
    session.flush()
    audit.record(session, actor, "collections.window_remove", ("customer", customer_id),
                 before, None)


def set_invoice_hold(session: Session, actor: audit.Actor, invoice_id: int,
                     hold: bool) -> InvoiceChase:
    """Stop (``hold``) or resume chasing one invoice, audited ``invoice.chase_hold``."""
    if session.get(Invoice, invoice_id, with_for_update=True) is None:
        raise ProfileError("There is no such invoice.")
    chase = session.get(InvoiceChase, invoice_id, with_for_update=True)
    before = {"do_not_chase": bool(chase and chase.do_not_chase)}
    if chase is None:
        chase = InvoiceChase(invoice_id=invoice_id)
        session.add(chase)
    chase.do_not_chase, chase.updated_by = hold, actor.label
    session.flush()
    audit.record(session, actor, "invoice.chase_hold", ("invoice", invoice_id), before,
                 {"do_not_chase": hold})
    return chase


@dataclass(frozen=True)
class View:
    """What the customer page shows of the settings: the profile (None: all defaults), its
    windows with their words, and the policies to choose from (id → name)."""

    profile: CollectionProfile | None
    windows: list[tuple[ContactWindow, str]]
    policies: dict[int, str]


def view(session: Session, customer_id: int) -> View:
    """The customer's collections settings for the console."""
    found = session.scalars(select(ContactWindow).where(ContactWindow.customer_id == customer_id)
                            .order_by(ContactWindow.id)).all()
    return View(session.get(CollectionProfile, customer_id),
                [(w, _words(w)) for w in found],
                dict(session.execute(select(ReminderPolicy.id, ReminderPolicy.name)
                                     .order_by(ReminderPolicy.name)).all()))


def _words(window: ContactWindow) -> str:
    try:
        return windows.parse_window(window.kind, window.start, window.end, window.label).words()
    except windows.WindowError:  # saved through add_window, so only a hand-edited row
        return f"{window.kind} {window.start}–{window.end}"

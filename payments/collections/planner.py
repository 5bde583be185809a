"""When each reminder step of an open invoice happens, and why — pure, no database.

A step's day is the due date plus its offset; an overdue step (offset > 0) moves by the
customer's learned lateness when the customer learns timing; a step inside a promise to pay
waits for the day after the promised date; then it moves to the customer's next contact day
(business days, contact windows), at the start of its contact hours. :func:`schedule` gives
every step still to do with its reasons; :func:`decide` tells a tick what to do now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from payments.collections.policy import Step
from payments.collections.timing import NOTHING, Learned
from payments.collections.windows import Rules

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Pause:
    """Steps whose day falls in ``[first, last]`` wait until the day after ``last``."""

    first: date
    last: date
    reason: str


@dataclass(frozen=True)
class Person:
    """A customer as collections sees it."""

    customer_id: int
    name: str
    steps: tuple[Step, ...]
    rules: Rules
    emails: tuple[str, ...] = ()
    learned: Learned = NOTHING
    learn_timing: bool = True
    preferred_channel: str | None = None
    do_not_chase: bool = False
    pauses: tuple[Pause, ...] = ()

    @property
    def shift(self) -> int:
        """Days overdue steps move by (0 unless the customer learns timing and has enough
        paid invoices)."""
        return self.learned.shift if self.learn_timing else 0


@dataclass(frozen=True)
class Chased:
    """An open invoice as the planner sees it; ``last_offset``: the last step done."""

    invoice_id: int
    customer_id: int
    number: str
    currency: str
    issue_date: date
    due_date: date
    amount_due: int
    last_offset: int | None = None
    do_not_chase: bool = False


@dataclass(frozen=True)
class Planned:
    """One step of one invoice: its ``channel`` (the step's, or what replaced it), the local
    ``day`` and the UTC moment ``at`` it becomes due, and why, in words."""

    invoice_id: int
    step: Step
    channel: str
    day: date
    at: datetime
    why: tuple[str, ...] = field(default_factory=tuple)

    def words(self) -> str:
        """The reasons as one sentence."""
        return "; ".join(self.why)


def schedule(person: Person, invoice: Chased, until: date | None = None) -> list[Planned]:
    """Every step of the invoice after its last done one, in offset order; only those whose
    day before any move comes by ``until`` when given (moves only ever go later, and those
    days grow with the offset, so the rest cannot be due by then)."""
    planned = []
    for step in person.steps:
        if invoice.last_offset is not None and step.offset <= invoice.last_offset:
            continue
        if until is not None and _raw_day(person, invoice, step) > until:
            break
        planned.append(_plan(person, invoice, step))
    return planned


def _raw_day(person: Person, invoice: Chased, step: Step) -> date:
    return invoice.due_date + (step.offset + (person.shift if step.overdue else 0)) * DAY


def _open_day(person: Person, day: date, why: list[str]) -> date:
    """The first day on or after ``day`` outside every pause and on a contact day (moving
    out of a pause may land in a window and out of a window in a pause: repeat until both
    hold), adding the reasons to ``why``."""
    while True:
        for pause in person.pauses:
            if pause.first <= day <= pause.last:
                day = pause.last + DAY
                why.append(f"paused by {pause.reason}: waits until {day.isoformat()}")
        open_day, blocked = person.rules.first_open_day(day)
        if blocked:
            why.append(f"moved to {open_day:%a} {open_day.isoformat()}: {'; '.join(blocked)}")
        if not any(p.first <= open_day <= p.last for p in person.pauses):
            return open_day
        day = open_day


def _plan(person: Person, invoice: Chased, step: Step) -> Planned:
    day = invoice.due_date + step.offset * DAY
    why = [f"{step.words()} for invoice {invoice.number}, due {invoice.due_date.isoformat()}"]
    if step.overdue and person.shift:
        day += person.shift * DAY
        why.append(f"{person.name} {person.learned.words()}: moved {person.shift} days "
                   f"later, to {day.isoformat()}")
    open_day = _open_day(person, day, why)
    hours = person.rules.hours
    why.append(f"from {hours[0]:02d}:00 {person.rules.zone.key} (contact hours "
               f"{hours[0]:02d}:00–{hours[1]:02d}:00)")
    channel = step.channel
    if channel == "email" and person.preferred_channel in ("letter", "call"):
        channel = person.preferred_channel
        why.append(f"by {channel}, the customer's preferred channel")
    elif channel == "email" and not person.emails:
        channel = "call"
        why.append("a call instead: no email address is on file")
    return Planned(invoice.invoice_id, step, channel, open_day,
                   person.rules.opening(open_day), tuple(why))


@dataclass(frozen=True)
class Decision:
    """What a tick does for one invoice now: ``act`` on one step (or None), and record the
    ``skipped`` ones with their reasons (never to be sent late)."""

    act: Planned | None
    skipped: tuple[tuple[Planned, str], ...] = ()

    @property
    def last_offset(self) -> int | None:
        """The offset the invoice's steps are done up to after this decision."""
        offsets = [p.step.offset for p, _ in self.skipped]
        if self.act is not None:
            offsets.append(self.act.step.offset)
        return max(offsets, default=None)


NOTHING_NOW = Decision(None)


def decide(person: Person, invoice: Chased, now: datetime, stale_days: int) -> Decision:
    """The tick's decision: nothing outside the customer's contact hours or for a customer or
    invoice not chased; else, of the steps due by ``now``, the latest one that is neither
    stale (planned more than ``stale_days`` days ago: a missed day is caught up once, a stale
    step skipped) nor pointless (a courtesy reminder once the due date has passed, a step
    from before the invoice was issued), and the others skipped."""
    if person.do_not_chase or invoice.do_not_chase or not person.rules.may_contact(now):
        return NOTHING_NOW
    today = person.rules.local(now).date()
    due = [p for p in schedule(person, invoice, until=today) if p.at <= now]
    live, skipped = [], []
    for planned in due:
        reason = pointless(planned, invoice, today, stale_days)
        (skipped.append((planned, reason)) if reason else live.append(planned))
    if not live:
        return Decision(None, tuple(skipped))
    act = live[-1]
    skipped += [(p, f"superseded by {act.step.words()}") for p in live[:-1]]
    return Decision(act, tuple(skipped))


def pointless(planned: Planned, invoice: Chased, today: date, stale_days: int) -> str | None:
    """Why acting on ``planned`` on ``today`` would be wrong (None: it is not)."""
    if planned.day < invoice.issue_date:
        return "its day came before the invoice was issued"
    if not planned.step.overdue and today > invoice.due_date:
        return "a reminder before the due date, and the due date has passed"
    late = (today - planned.day).days
    if late > stale_days:
        return f"{late} days late (more than {stale_days}): skipped, not sent late"
    return None

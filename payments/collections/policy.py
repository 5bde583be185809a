"""Reminder policies: the steps of a follow-up schedule, relative to the due date.

Until an admin edits one, the built-in :data:`DEFAULT_STEPS` apply to every customer. A
customer may have its own policy (its profile's ``policy_id``). Saving a policy replaces its
steps and is audited; a step already done for an invoice is remembered by its offset, so an
edit never sends a step twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from payments.collections.models import CHANNELS, TONES, ReminderPolicy, ReminderStep
from payments.staff import audit

MIN_OFFSET, MAX_OFFSET = -60, 365
MAX_STEPS = 20
CHANNEL_WORDS = {"email": "email", "letter": "letter (PDF to print and mail)",
                 "call": "call task", "escalate": "escalation"}


class PolicyError(ValueError):
    """A policy that cannot be saved; ``fields`` say what is wrong, per form field."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


@dataclass(frozen=True, order=True)
class Step:
    """``offset`` days from the due date (negative: a courtesy before it)."""

    offset: int
    channel: str
    tone: str = "polite"

    @property
    def overdue(self) -> bool:
        """Steps after the due date shift with the customer's learned timing; the others
        (courtesy reminders, the due day itself) never do."""
        return self.offset > 0

    def words(self) -> str:
        """"day +7 email", "3 days before due: email", …"""
        when = (f"day +{self.offset}" if self.offset > 0 else "the due date" if self.offset == 0
                else f"{-self.offset} day{'s' * (self.offset != -1)} before due")
        return f"{when}: {CHANNEL_WORDS[self.channel]}"


DEFAULT_STEPS: tuple[Step, ...] = (
    Step(-3, "email", "polite"),  # a courtesy: "due on Friday"
    Step(1, "email", "polite"),
    Step(7, "email", "polite"),
    Step(14, "email", "partnership"),
    Step(21, "call"),
    Step(30, "letter", "firm"),
    Step(45, "escalate"),
)


@dataclass(frozen=True)
class Book:
    """Every policy's steps, loaded once for a tick or a preview."""

    default: tuple[Step, ...]
    by_id: dict[int, tuple[Step, ...]]
    names: dict[int, str]
    default_id: int | None = None  # None: the built-in default

    def steps(self, policy_id: int | None) -> tuple[Step, ...]:
        """The steps of ``policy_id``, or the default's (no policy, or one since deleted)."""
        return self.by_id.get(policy_id, self.default) if policy_id else self.default


def book(session: Session) -> Book:
    """All policies and their steps."""
    policies = session.scalars(select(ReminderPolicy)
                               .options(selectinload(ReminderPolicy.steps))).all()
    by_id = {p.id: tuple(Step(s.offset_days, s.channel, s.tone) for s in p.steps)
             for p in policies}
    default_id = next((p.id for p in policies if p.is_default), None)
    default = by_id[default_id] if default_id is not None else DEFAULT_STEPS
    return Book(default, by_id, {p.id: p.name for p in policies}, default_id)


def parse_steps(rows: Sequence[tuple[str, str, str]]) -> list[Step]:
    """Steps from form rows (offset, channel, tone), blank rows left out; :class:`PolicyError`
    names the row that is wrong."""
    steps: list[Step] = []
    fields: dict[str, str] = {}
    for n, (offset, channel, tone) in enumerate(rows):
        if not offset.strip() and not channel:
            continue
        try:
            days = int(offset)
        except ValueError:
            fields[f"offset-{n}"] = "Give the days from the due date as a whole number."
            continue
        if not MIN_OFFSET <= days <= MAX_OFFSET:
            fields[f"offset-{n}"] = f"Steps go from {MIN_OFFSET} to +{MAX_OFFSET} days."
        elif channel not in CHANNELS:
            fields[f"channel-{n}"] = "Choose email, letter, call or escalation."
        elif tone not in TONES:
            fields[f"tone-{n}"] = "Choose a tone."
        elif any(step.offset == days for step in steps):
            fields[f"offset-{n}"] = f"There is already a step on day {days:+d}."
        else:
            steps.append(Step(days, channel, tone))
    if fields:
        raise PolicyError("Some steps need fixing.", fields)
    if not steps:
        raise PolicyError("A policy needs at least one step.", {"offset-0": "Add a step."})
    if len(steps) > MAX_STEPS:
        raise PolicyError(f"A policy has at most {MAX_STEPS} steps.")
    return sorted(steps)


def save(session: Session, actor: audit.Actor, policy_id: int | None, name: str,
         steps: Sequence[Step], is_default: bool = False) -> ReminderPolicy:
    """Create (``policy_id`` None) or replace a policy's name and steps, audited. Making it
    the default unmarks the previous default in the same transaction."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise PolicyError("Give the policy a name (at most 100 characters).",
                          {"name": "Give the policy a name."})
    clash = session.scalar(select(ReminderPolicy.id).where(ReminderPolicy.name == name))
    if clash is not None and clash != policy_id:
        raise PolicyError("Another policy has that name.", {"name": "Choose another name."})
    policy = ReminderPolicy(name=name) if policy_id is None else session.get(
        ReminderPolicy, policy_id, with_for_update=True)
    if policy is None:
        raise PolicyError("There is no such policy.")
    before = _describe(policy) if policy_id is not None else None
    if is_default and not policy.is_default:
        session.execute(update(ReminderPolicy).where(ReminderPolicy.is_default)
                        .values(is_default=False))
        session.flush()
    policy.name, policy.updated_by = name, actor.label
    policy.is_default = is_default or policy.is_default
    session.add(policy)
    policy.steps.clear()
    session.flush()  # old steps gone before new ones take their (policy, offset) places
    policy.steps.extend(ReminderStep(offset_days=s.offset, channel=s.channel, tone=s.tone)
                        for s in steps)
    session.flush()
    audit.record(session, actor, "reminders.policy_save", ("reminder_policy", policy.id),
                 before, _describe(policy))
    return policy


def _describe(policy: ReminderPolicy) -> dict:
    return {"name": policy.name, "default": bool(policy.is_default),
            "steps": [f"{s.offset_days:+d} {s.channel} {s.tone}" for s in policy.steps]}

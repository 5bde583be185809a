"""What collections is told: reminder policies and their steps, the templates reminders are
written from, each customer's contact preferences and windows, per-invoice holds, promises.

What collections did (contacts, calls) is in :mod:`payments.collections.log_models`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.clock import UTCDateTime, utcnow
from payments.db import Base, one_of
from payments.money import format_money

CHANNELS = ("email", "letter", "call", "escalate")
TONES = ("polite", "partnership", "firm")
WINDOW_KINDS = ("monthly", "yearly", "dates")
PROMISE_STATUSES = ("open", "kept", "broken", "canceled")


class ReminderPolicy(Base):
    """A named schedule of reminder steps; at most one is the default (partial unique index).
    Without any row the built-in default (:data:`payments.collections.policy.DEFAULT_STEPS`)
    applies."""

    __tablename__ = "reminder_policies"
    __table_args__ = (
        Index("uq_reminder_policies_default", "is_default", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))

    steps: Mapped[list[ReminderStep]] = relationship(
        order_by="ReminderStep.offset_days", cascade="all, delete-orphan")


class ReminderStep(Base):
    """One contact of a policy, ``offset_days`` from the due date (negative: before it)."""

    __tablename__ = "reminder_steps"
    __table_args__ = (
        CheckConstraint(one_of("channel", CHANNELS), name="channel_known"),
        CheckConstraint(one_of("tone", TONES), name="tone_known"),
        CheckConstraint("offset_days BETWEEN -60 AND 365", name="offset_in_range"),
        UniqueConstraint("policy_id", "offset_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("reminder_policies.id",
                                                      ondelete="CASCADE"))
    offset_days: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))
    tone: Mapped[str] = mapped_column(String(12), default="polite")


class ReminderTemplate(Base):
    """The words of a reminder in one tone, as staff edited them (Jinja, sandboxed). Without a
    row the built-in text of that tone applies."""

    __tablename__ = "reminder_templates"
    __table_args__ = (CheckConstraint(one_of("tone", TONES), name="tone_known"),)

    tone: Mapped[str] = mapped_column(String(12), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))


class CollectionProfile(Base):
    """How one customer is chased (staff's settings), and what collections learned of its
    paying (``learned``, ``trend``: recomputed daily). No row: the defaults."""

    __tablename__ = "collection_profiles"
    __table_args__ = (
        CheckConstraint("preferred_channel IS NULL OR "
                        + one_of("preferred_channel", ("email", "letter", "call")),
                        name="preferred_channel_known"),
        CheckConstraint("hours_start >= 0 AND hours_end <= 24 AND hours_start < hours_end",
                        name="hours_in_range"),
        Index("ix_collection_profiles_flagged", "customer_id",
              sqlite_where=text("trend_flag"), postgresql_where=text("trend_flag")),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("reminder_policies.id",
                                                             ondelete="SET NULL"))
    do_not_chase: Mapped[bool] = mapped_column(Boolean, default=False)
    learn_timing: Mapped[bool] = mapped_column(Boolean, default=True)
    preferred_channel: Mapped[str | None] = mapped_column(String(10))
    contact_emails: Mapped[str | None] = mapped_column(Text)  # comma-separated; None: customer's
    time_zone: Mapped[str | None] = mapped_column(String(64))  # None: PORTAL_TIMEZONE
    hours_start: Mapped[int] = mapped_column(Integer, default=9)  # local hours contact may
    hours_end: Mapped[int] = mapped_column(Integer, default=17)  # happen: [start, end)
    business_days: Mapped[str] = mapped_column(String(7), default="12345")  # ISO weekdays
    learned: Mapped[dict | None] = mapped_column(JSON)  # payments.collections.timing.Learned
    trend: Mapped[dict | None] = mapped_column(JSON)  # payments.collections.trends.Trend
    trend_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    learned_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))


class ContactWindow(Base):
    """Days the customer must not be contacted: ``monthly`` (``start``/``end`` days of the
    month, "15"–"21"), ``yearly`` ("12-24"–"01-02", may wrap the year) or ``dates``
    ("2027-03-01"–"2027-03-12")."""

    __tablename__ = "contact_windows"
    __table_args__ = (
        CheckConstraint(one_of("kind", WINDOW_KINDS), name="kind_known"),
        Index("ix_contact_windows_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    start: Mapped[str] = mapped_column(String(10))
    end: Mapped[str] = mapped_column(String(10))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InvoiceChase(Base):
    """Collections' state of one invoice: staff's "do not chase", and the last reminder step
    done (sent or skipped), which later ticks start after."""

    __tablename__ = "invoice_chase"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    do_not_chase: Mapped[bool] = mapped_column(Boolean, default=False)
    last_offset: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))


class Promise(Base):
    """A customer's promise to pay ``amount`` by ``promised_on``, as staff recorded it.
    Reminders pause until the day after; then it is ``kept`` (paid since it was made) or
    ``broken`` (the worklist raises the account, the schedule resumes)."""

    __tablename__ = "promises"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(one_of("status", PROMISE_STATUSES), name="status_known"),
        Index("ix_promises_customer", "customer_id", "id"),
        Index("ix_promises_open", "promised_on",
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        # The worklist's broken promises nobody followed up (few, whatever the history).
        Index("ix_promises_broken", "customer_id",
              sqlite_where=text("status = 'broken' AND followed_up_at IS NULL"),
              postgresql_where=text("status = 'broken' AND followed_up_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    promised_on: Mapped[date] = mapped_column(Date)
    contact: Mapped[str | None] = mapped_column(String(200))  # who promised
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # kept/broken/canceled
    followed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # broken → called

    def words(self) -> str:
        """"a promise to pay $1,250.00 by 2026-12-14", as the planner and stops say it."""
        return (f"a promise to pay {format_money(self.amount, self.currency)} by "
                f"{self.promised_on.isoformat()}")

"""What collections did: each contact made or asked of staff (an email, a letter to print, a
call to make, an escalation), the invoice steps each one covered, and the calls staff logged.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
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
from payments.collections.models import CHANNELS
from payments.db import Base, one_of

CONTACT_STATUSES = ("queued", "open", "done", "canceled")
ITEM_OUTCOMES = ("contacted", "skipped")
CALL_OUTCOMES = ("reached", "left_message", "promise", "dispute", "wrong_contact")


class Contact(Base):
    """One contact of one customer on one local day and channel: an email (``queued`` with
    its outbox row), or a task for staff (``open`` until done). At most one live contact per
    (customer, channel, day): that is what makes two ticks at once send one message. A contact
    whose email was canceled before it went out is ``canceled`` and frees its day."""

    __tablename__ = "reminder_contacts"
    __table_args__ = (
        CheckConstraint(one_of("channel", CHANNELS), name="channel_known"),
        CheckConstraint(one_of("status", CONTACT_STATUSES), name="status_known"),
        Index("uq_reminder_contacts_day", "customer_id", "channel", "day", unique=True,
              sqlite_where=text("status <> 'canceled'"),
              postgresql_where=text("status <> 'canceled'")),
        Index("ix_reminder_contacts_customer", "customer_id", "id"),
        Index("ix_reminder_contacts_open", "day",
              sqlite_where=text("status IN ('open', 'queued')"),
              postgresql_where=text("status IN ('open', 'queued')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(10))
    day: Mapped[date] = mapped_column(Date)  # the customer's local day
    status: Mapped[str] = mapped_column(String(10))
    outbox_email_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_emails.id"))
    to_address: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)  # what was sent, or the letter's text
    why: Mapped[str] = mapped_column(Text)  # in words, for the console
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(320))
    canceled_reason: Mapped[str | None] = mapped_column(Text)

    items: Mapped[list[ContactItem]] = relationship(back_populates="contact")


class ContactItem(Base):
    """One reminder step of one invoice, done: ``contacted`` (in ``contact_id``) or
    ``skipped`` (stale, or superseded by a later step due the same day; the steps one tick
    skips for an invoice are one item, at the latest of them, ``why`` naming each). Unique per
    (invoice, step offset): a step is never done twice."""

    __tablename__ = "reminder_items"
    __table_args__ = (
        CheckConstraint(one_of("outcome", ITEM_OUTCOMES), name="outcome_known"),
        UniqueConstraint("invoice_id", "offset_days"),
        Index("ix_reminder_items_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    offset_days: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("reminder_contacts.id",
                                                              ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(10))
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    why: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contact: Mapped[Contact | None] = relationship(back_populates="items")


class CallLog(Base):
    """A call staff made to a customer, with its outcome (a timeline entry)."""

    __tablename__ = "call_logs"
    __table_args__ = (
        CheckConstraint(one_of("outcome", CALL_OUTCOMES), name="outcome_known"),
        Index("ix_call_logs_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("reminder_contacts.id"))
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promises.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    author_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

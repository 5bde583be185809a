"""Stored Stripe events (once by id), the failures of handling them, and sync checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from payments.clock import UTCDateTime, utcnow
from payments.db import Base


class StripeEvent(Base):
    """A verified Stripe event, stored once by id; ``processed_at`` is set in the transaction
    that applied it (by a task after the webhook answered, or at once by ``portal stripe sync``).

    ``payment_ref`` is the PaymentIntent its object belongs to (for a Checkout Session without
    one, the session's id), so an invoice's event timeline is an index lookup, not a scan of
    JSON payloads.
    """

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index("ix_stripe_events_payment_ref", "payment_ref", "created"),
        # The sweep's question: which stored events has no task applied yet?
        Index("ix_stripe_events_unprocessed", "received_at",
              postgresql_where=text("processed_at IS NULL"),
              sqlite_where=text("processed_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payment_ref: Mapped[str | None] = mapped_column(String(255))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventFailure(Base):
    """A handler failure, kept outside the rolled-back transaction so staff can see it."""

    __tablename__ = "stripe_event_failures"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error_type: Mapped[str] = mapped_column(String(200))
    error_message: Mapped[str] = mapped_column(Text)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: at once


class SyncState(Base):
    """Small named values that recovery keeps between runs (e.g. the events checkpoint)."""

    __tablename__ = "sync_state"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

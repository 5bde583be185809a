"""``portal stripe sync``: recover whatever webhooks missed, from Stripe's Events API.

Pages through the events since the stored checkpoint (30 days at most: Stripe keeps no more),
oldest first, through the same store-once pipeline as the webhook, then sweeps attempts still
open and asks Stripe how their Checkout Sessions ended. Safe to run at any time, as often as
you like: every event is applied once, whoever saw it first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select

from payments.checkout.models import PaymentAttempt
from payments.clock import utcnow
from payments.db import Database
from payments.events import event_store, handlers, outcome
from payments.events.models import SyncState
from payments.stripe.gateway import StripeGateway

RETENTION = timedelta(days=30)
OVERLAP_SECONDS = 600  # events stamped with the same second can be listed a little late
CHECKPOINT = "events.created"


@dataclass
class Report:
    """What a sync run did."""

    since: datetime
    clamped: bool
    outcomes: Counter[str] = field(default_factory=Counter)
    swept: int = 0


def run(db: Database, gateway: StripeGateway, since: datetime | None = None,
        now: datetime | None = None) -> Report:
    """Feed every event since ``since`` (default: the checkpoint) through the pipeline."""
    now = now or utcnow()
    start, clamped = _start(db, since, now)
    listed = list(gateway.events(created_gte=int(start.timestamp())))
    report = Report(since=start, clamped=clamped)
    failed_at: list[int] = []
    for event in reversed(listed):  # the API lists newest first
        ctx = handlers.Context(gateway)  # reads are made afresh for each event
        result = event_store.ingest(db, event, partial(handlers.handle, ctx), source="sync")
        report.outcomes[result.outcome] += 1
        if result.outcome == "failed":
            failed_at.append(int(event["created"]))
    newest = max((int(e["created"]) for e in listed), default=None)
    # After a failure, the next run starts just before it, so the event is tried again.
    _save_checkpoint(db, min(failed_at) - 1 if failed_at else newest)
    report.swept = _sweep(db, gateway)
    return report


def _start(db: Database, since: datetime | None, now: datetime) -> tuple[datetime, bool]:
    floor = now - RETENTION
    if since is None:
        with db.reader() as session:
            state = session.get(SyncState, CHECKPOINT)
        since = (datetime.fromtimestamp(int(state.value) - OVERLAP_SECONDS, now.tzinfo)
                 if state else floor)
    return (floor, True) if since < floor else (since, False)


def _save_checkpoint(db: Database, created: int | None) -> None:
    if created is None:
        return

    def work(session) -> None:
        state = session.get(SyncState, CHECKPOINT, with_for_update=True)
        if state is None:
            session.add(SyncState(name=CHECKPOINT, value=str(created)))
        else:
            state.value = str(created)

    db.run(work)


def _sweep(db: Database, gateway: StripeGateway) -> int:
    """Ask Stripe about every attempt still open; returns how many were checked."""
    with db.reader() as session:
        references = session.scalars(select(PaymentAttempt.reference).where(
            PaymentAttempt.status == "open",
            PaymentAttempt.checkout_session_id.is_not(None))).all()
    for reference in references:
        outcome.refresh(db, gateway, reference)
    return len(references)

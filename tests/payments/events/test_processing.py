"""Applying stored events off the request path: once, whoever runs the task, however often;
failures counted with a backoff and given up on after a bound; the sweep's view of what is
left."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from payments.clock import utcnow
from payments.events import event_store, processing
from payments.events.models import EventFailure, StripeEvent
from payments.invoicing.models import Customer


def _event(event_id: str = "evt_1", created: int | None = None) -> dict:
    return {"id": event_id, "object": "event", "type": "payment_intent.succeeded",
            "created": created or int(time.time()),
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}}}


def _counting(calls: list[str]):
    def handle(session, event):
        calls.append(event["id"])
        session.add(Customer(external_id=f"from-{event['id']}", name="x"))
    return handle


def _broken(session, event):
    session.add(Customer(external_id="half-written", name="x"))
    session.flush()
    raise RuntimeError("Stripe went away")


def _customers(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(Customer))


def _later(minutes: float):
    return utcnow() + timedelta(minutes=minutes)


def test_a_stored_event_is_applied_once_however_often_its_task_runs(db):
    assert processing.store(db, _event()) is True
    assert processing.store(db, _event()) is False  # Stripe's retry: no second task
    calls: list[str] = []
    outcomes = [processing.process(db, "evt_1", _counting(calls)).outcome for _ in range(3)]
    assert outcomes == ["applied", "duplicate", "duplicate"]
    assert calls == ["evt_1"] and _customers(db) == 1
    with db.reader() as session:
        assert session.get(StripeEvent, "evt_1").processed_at is not None
    assert processing.process(db, "evt_unknown", _counting(calls)).outcome == "duplicate"


def test_two_consumers_on_one_event_apply_it_once(db):
    processing.store(db, _event())
    calls: list[str] = []
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def consume():
        barrier.wait()
        outcomes.append(processing.process(db, "evt_1", _counting(calls)).outcome)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 3
    assert calls == ["evt_1"] and _customers(db) == 1


def test_a_failure_is_counted_backs_off_and_leaves_nothing_half_written(db):
    processing.store(db, _event())
    assert processing.process(db, "evt_1", _broken).outcome == "failed"
    assert _customers(db) == 0
    with db.reader() as session:
        failure = session.get(EventFailure, "evt_1")
        assert (failure.attempts, failure.type) == (1, "payment_intent.succeeded")
        assert failure.next_attempt_at - failure.last_failed_at == event_store.FIRST_RETRY
    assert processing.due(db, now=_later(0.25), grace=timedelta(0)) == []  # backing off
    assert processing.due(db, now=_later(1), grace=timedelta(0)) == ["evt_1"]
    processing.process(db, "evt_1", _broken)
    with db.reader() as session:
        failure = session.get(EventFailure, "evt_1")
        assert failure.next_attempt_at - failure.last_failed_at == 2 * event_store.FIRST_RETRY
    calls: list[str] = []
    assert processing.process(db, "evt_1", _counting(calls)).outcome == "applied"
    with db.reader() as session:
        assert session.get(EventFailure, "evt_1").resolved_at is not None
    assert processing.due(db, now=_later(90), grace=timedelta(0)) == []


def test_after_the_last_attempt_only_staff_retry_it(db):
    processing.store(db, _event())
    for _ in range(processing.GIVE_UP_AFTER):
        processing.process(db, "evt_1", _broken)
    assert processing.due(db, now=_later(24 * 60), grace=timedelta(0)) == []
    with db.reader() as session:
        backlog = processing.backlog(session)
        assert (backlog.unprocessed, backlog.failing, backlog.given_up) == (1, 0, 1)
        [failed] = processing.failed_events(session)
        assert failed.event_id == "evt_1" and "Stripe went away" in failed.error_message
    with db.transaction() as session:
        assert processing.retry_now(session, "evt_1") is True
        assert processing.retry_now(session, "evt_missing") is False
    calls: list[str] = []
    assert processing.process(db, "evt_1", _counting(calls)).outcome == "applied"
    with db.transaction() as session:
        assert processing.retry_now(session, "evt_1") is False  # nothing left to retry
        assert processing.failed_events(session) == []


def test_the_sweep_waits_out_the_grace_period_and_goes_oldest_first(db):
    processing.store(db, _event("evt_new", created=2_000))
    processing.store(db, _event("evt_old", created=1_000))
    processing.store(db, _event("evt_done", created=500))
    processing.process(db, "evt_done", _counting([]))
    assert processing.due(db) == []  # just stored: their own tasks are on their way
    assert processing.due(db, now=_later(1)) == ["evt_old", "evt_new"]
    with db.reader() as session:
        backlog = processing.backlog(session)
    assert backlog.unprocessed == 2 and backlog.oldest_received_at is not None

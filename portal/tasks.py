"""Background work on Huey: the queue, the periodic ticks, and the consumers that run them.

The queue is SQLite in the instance folder by default (``PORTAL_QUEUE_PATH``: nothing to
install) and Redis when ``PORTAL_REDIS_URL`` is set (to share it between hosts); the task code
is the same on both. ``portal worker`` runs a consumer; ``portal demo`` and ``portal run`` embed
one in their own process.

Huey delivers a task at most once (a consumer killed mid-task drops it), so the database is the
source of truth: every tick re-reads the rows it acts on, is idempotent, and may run on several
machines at once (a Huey lock only saves the duplicate work). Ticks are registered in one
place, :data:`TICKS`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

from flask import Flask
from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey, TaskWrapper
from huey.consumer import Consumer
from huey.exceptions import TaskLockedException
from huey.storage import SqliteStorage

from payments.events import handlers, processing, recovery
from payments.outbox import outbox, send
from payments.staff import sessions
from portal import database, mail, reminders

QUEUE_NAME = "ar-portal"


@dataclass(frozen=True)
class Tick:
    """Periodic work: ``run(app)`` on the ``schedule`` (a Huey crontab), one at a time."""

    name: str
    schedule: Callable
    run: Callable[[Flask], object]
    description: str


def stripe_sync(app: Flask) -> recovery.Report | None:
    """``portal stripe sync`` on a schedule: replay the Stripe events webhooks missed, then ask
    Stripe about attempts still open (nothing to do when payments are not configured)."""
    gateway = app.extensions.get("portal.stripe")
    if gateway is None:
        return None
    report = recovery.run(database.db(), gateway)
    if report.outcomes["failed"]:
        app.logger.warning("stripe sync: %s events failed; the next tick retries them",
                           report.outcomes["failed"])
    return report


def apply_event(app: Flask, event_id: str) -> str:
    """Apply one stored Stripe event through the handler table (the webhook's task)."""
    ctx = handlers.Context(app.extensions.get("portal.stripe"))
    result = processing.process(database.db(), event_id, partial(handlers.handle, ctx))
    if result.outcome == "failed":
        app.logger.error("Stripe event %s failed: %s; it will be retried", event_id,
                         result.error)
    return result.outcome


def sweep_events(app: Flask) -> int:
    """Re-enqueue stored events no task applied (lost, slow, or due again after a failure)."""
    return _sweep(app, processing.due, enqueue_event)


def send_email(app: Flask, email_id: int) -> str:
    """Send one outbox row (the task every queued email gets)."""
    outcome = send.deliver(database.db(), email_id, mail.transport(app), mail.link_url,
                           reminders.GUARDS)
    if outcome in ("retrying", "failed"):
        # The row holds the error; the log says which row, never its body (it has a link).
        app.logger.warning("email #%s could not be sent (%s)", email_id, outcome)
    return outcome


def sweep_outbox(app: Flask) -> int:
    """Send the emails no task sent (lost, or due again after a failure)."""
    return _sweep(app, outbox.due, enqueue_email)


def _sweep(app: Flask, due: Callable[..., list], enqueue: Callable[[Flask, object], None]) -> int:
    # A row younger than the grace most likely has its own task on the way.
    grace = timedelta(seconds=app.config["PORTAL_SWEEP_GRACE_SECONDS"])
    found = due(database.db(), grace=grace)
    for row_id in found:
        enqueue(app, row_id)
    return len(found)


def send_reminders(app: Flask) -> int:
    """The reminder tick, then its emails onto the queue (the outbox sweep sends any the
    queue loses)."""
    report = reminders.run_tick(app)
    for email_id in report.emails:
        enqueue_email(app, email_id)
    return len(report.emails)


def purge_sessions(app: Flask) -> int:
    """Delete console sessions past their idle or absolute timeout (refused anyway)."""
    return sessions.purge(database.db(), app.extensions["portal.staff_sessions"])


TICKS: tuple[Tick, ...] = (
    Tick("events-sweep", crontab(minute="*"), sweep_events,
         "every minute: apply stored Stripe events no task applied, and retry failed ones"),
    Tick("outbox-sweep", crontab(minute="*"), sweep_outbox,
         "every minute: send the customer emails no task sent, and retry failed ones"),
    Tick("stripe-sync", crontab(minute="*/15"), stripe_sync,
         "every 15 minutes: recover payments whose webhooks were missed"),
    Tick("reminders", crontab(minute="*/15"), send_reminders,
         "every 15 minutes: write and queue the reminders due now, in each customer's hours"),
    Tick("promises-settle", crontab(minute="5"), reminders.settle_promises,
         "every hour: promises whose day has passed become kept or broken"),
    Tick("collections-learn", crontab(hour="4", minute="30"), reminders.learn,
         "every day at 04:30 UTC: relearn each customer's paying habits and trend"),
    Tick("sessions-purge", crontab(minute="7"), purge_sessions,
         "every hour: delete console sessions that have timed out"),
)


def enqueue_event(app: Flask, event_id: str) -> None:
    """Queue the task that applies a stored event."""
    app.extensions["portal.tasks"]["apply-event"](event_id)


def enqueue_email(app: Flask, email_id: int | None) -> None:
    """Queue the task that sends an outbox row (call it after the row's commit; None, a row
    queued before, is nothing to do). A queue that is down is logged, not raised: the row is
    committed, and the outbox sweep sends it."""
    if email_id is None:
        return
    try:
        app.extensions["portal.tasks"]["send-email"](email_id)
    except Exception:  # noqa: BLE001
        app.logger.exception("email #%s queued in the outbox but not on the task queue",
                             email_id)


def init_app(app: Flask) -> None:
    """Create the app's queue (``app.extensions["portal.huey"]``) and register every tick on
    it, each running inside the app context."""
    huey = _queue(app)
    app.extensions["portal.huey"] = huey
    app.extensions["portal.ticks"] = {tick.name: _periodic(app, huey, tick) for tick in TICKS}
    app.extensions["portal.tasks"] = {
        "apply-event": huey.task(name="apply-event")(_in_context(app, apply_event)),
        "send-email": huey.task(name="send-email")(_in_context(app, send_email)),
    }

    parent = os.getpid()

    @huey.on_startup()
    def _fresh_connections() -> None:
        # A forked worker must not share the parent's pooled database connections; a thread
        # worker shares the process's pool, which other threads may be using right now.
        if os.getpid() != parent:
            app.extensions["portal.db"].dispose()


def _queue(app: Flask) -> Huey:
    # Immediate mode (tests) runs each task as it is enqueued, in the enqueuing thread.
    options = {"results": False, "utc": True,
               "immediate": bool(app.config.get("PORTAL_TASKS_IMMEDIATE"))}
    if url := app.config.get("PORTAL_REDIS_URL"):
        return RedisHuey(QUEUE_NAME, url=url, **options)
    path = Path(app.config.get("PORTAL_QUEUE_PATH") or Path(app.instance_path) / "tasks.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(path), storage_class=_QueueFile, **options)


class _QueueFile(SqliteStorage):
    """Huey's SQLite queue with ``synchronous=NORMAL``: in WAL mode that still cannot corrupt
    the file, and a queued task lost to a power cut is one the sweep finds again (the database
    is the truth), so the webhook does not wait on a disk flush per event."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


def _in_context(app: Flask, work: Callable[..., object]) -> Callable[..., object]:
    def run(*args: object) -> object:
        with app.app_context():
            return work(app, *args)

    run.__name__ = run.__qualname__ = work.__name__
    return run


def _periodic(app: Flask, huey: Huey, tick: Tick) -> TaskWrapper:
    # Made now, not when the tick runs, so that a consumer starting up knows the lock and can
    # flush one a killed consumer left behind (SQLite locks do not expire).
    lock = huey.lock_task(tick.name)

    def run() -> None:
        try:
            with lock, app.app_context():
                tick.run(app)
        except TaskLockedException:
            app.logger.info("tick %s is already running elsewhere; skipped", tick.name)

    run.__name__ = run.__qualname__ = tick.name.replace("-", "_")
    return huey.periodic_task(tick.schedule, name=tick.name)(run)


def consumer(app: Flask, workers: int = 2, worker_type: str = "thread",
             ticks: bool = True) -> Consumer:
    """A consumer of the app's queue that also runs the ticks on their schedule (unless
    ``ticks`` is False: one consumer with ticks is enough, more are harmless). It flushes the
    ticks' locks as it starts: one left by a killed consumer would otherwise stop that tick for
    good, and the worst a flush can cause is a tick running twice, which they all tolerate."""
    return app.extensions["portal.huey"].create_consumer(
        workers=workers, worker_type=worker_type, periodic=ticks, check_worker_health=True,
        flush_locks=True, graceful_signal="TERM")


def start_embedded(app: Flask, workers: int = 1) -> Consumer:
    """Start a consumer in this process's threads, for ``portal demo`` and ``portal run``:
    stop it with ``consumer.stop(graceful=True)``. The host keeps its own signal handling."""
    embedded = consumer(app, workers=workers, worker_type="thread")
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    embedded.start()
    for sig, handler in kept.items():
        signal.signal(sig, handler)
    return embedded

"""The portal's side of collections: the reminder tick's settings from the app's
configuration, the tick itself (queueing what it wrote), and the outbox guard.

The work is in :mod:`payments.collections`; this module only supplies what needs the app (the
business's name, the link key, the time zone and staleness settings) and the task queue.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from payments.clock import utcnow
from payments.collections import compose, people, promises, refresh, release, tick
from payments.outbox.send import Guard
from portal import database


def settings(app: Flask) -> tick.Settings:
    """The tick's settings from the app's configuration."""
    config = app.config
    writer = compose.Writer(business=config["PORTAL_BUSINESS_NAME"],
                            links=app.extensions["portal.links"],
                            locale=config["PORTAL_LOCALE"])
    return tick.Settings(writer, people.Defaults(zone=config["PORTAL_TIMEZONE"]),
                         stale_days=config["PORTAL_REMINDER_STALE_DAYS"],
                         send=bool(config["PORTAL_REMINDERS"]))


def run_tick(app: Flask, now=None) -> tick.Report:
    """One reminder tick; the caller queues the emails it wrote (``report.emails``)."""
    report = tick.run(database.db(), settings(app), now)
    if report.customers:
        app.logger.info("reminders: %s customers, %s emails, %s tasks, %s steps skipped, "
                        "%s invoices stopped", report.customers, len(report.emails),
                        report.tasks, report.skipped, report.stopped)
    return report


def settle_promises(app: Flask) -> int:
    """Promises whose day has passed become kept or broken (broken ones go on the worklist
    and their customers' reminders resume); how many. "Passed" everywhere on Earth: the day
    before the UTC day 14 hours ago, so a customer in UTC-12 still has all of its promised day
    to pay (the reminders' own pause uses each customer's local day)."""
    with database.db().transaction() as session:
        day = (utcnow() - timedelta(hours=14)).date()
        return len(promises.settle_due(session, day))


def learn(app: Flask) -> int:
    """The daily refresh of every customer's learned timing and paying trend; how many
    profiles it wrote."""
    with database.db().transaction() as session:
        return refresh.refresh(session, utcnow().date(), app.config["PORTAL_TREND_WARN_DAYS"])


GUARDS: dict[str, Guard] = {compose.KIND: release.guard}

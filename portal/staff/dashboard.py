"""``/staff/``: the KPIs at a glance, each with its definition, and what waits in the queues.

Everyone with a role reads it. Aging (an SVG chart per currency), DSO, CEI, collections and pending
ACH come from :mod:`payments.console.kpis` (SQL aggregates, one figure per currency: currencies are
never added together). The queues are worked on their own pages; the dashboard links there. Aging,
DSO, CEI and collections are kept a minute per process (:class:`FigureCache`); the queue counts and
pending ACH are read on every request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy.orm import Session

from payments.collections import trends
from payments.console import kpis
from payments.disputes import reads as dispute_reads
from payments.money import format_money
from portal import database
from portal.staff import bp, charts
from portal.staff.roles import require_role

DSO_DAYS, CEI_DAYS = 90, 30
CACHE_SECONDS = 60
PENDING_DEFINITION = ("ACH debits paid through the portal that have not cleared yet (Stripe's "
                      "“processing”): not collected, so still receivable.")
FLAGGED_SHOWN = 20
WORSENING_DEFINITION = (
    f"Customers whose average days to pay over the last {trends.PERIOD_DAYS} days is more than "
    "{days} days longer than over the " f"{trends.PERIOD_DAYS} days before "
    f"(each period with at least {trends.MINIMUM_PAID} paid invoices), as of the daily "
    "refresh; the most worsened first.")  # {days}: PORTAL_TREND_WARN_DAYS, the refresh's own
QUEUES_DEFINITION = ("Succeeded payments no one has confirmed yet, and reconciliation "
                     "exceptions (overpayments, unmatched payments, reversals…) not yet resolved.")


@dataclass(frozen=True)
class Period:
    """The days a ratio is computed over, ``first`` to ``last`` inclusive."""

    first: date
    last: date
    days: int


def period(last: date, days: int) -> Period:
    """The ``days`` days ending with ``last``."""
    return Period(last - timedelta(days=days - 1), last, days)


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows, as of ``today`` (UTC)."""

    today: date
    computed_at: datetime  # when the book-wide figures were computed
    aging: dict[str, kpis.Aging]
    charts: dict[str, Markup]
    dso: dict[str, kpis.Dso]
    dso_period: Period
    cei: dict[str, kpis.Cei]
    cei_period: Period
    collected: dict[str, kpis.Collected]
    week_start: date
    pending: dict[str, kpis.Pending]
    queues: kpis.Queues


@dataclass(frozen=True)
class BookFigures:
    """The KPIs that aggregate the whole book (aging, DSO, CEI, collections), as of a moment:
    the costly part of the page, kept for :data:`CACHE_SECONDS` (see :class:`FigureCache`)."""

    computed_at: datetime
    aging: dict[str, kpis.Aging]
    charts: dict[str, Markup]
    dso: dict[str, kpis.Dso]
    cei: dict[str, kpis.Cei]
    collected: dict[str, kpis.Collected]


def book_figures(db_session: Session, today: date, locale: str) -> BookFigures:
    """Run the book-wide KPI queries for ``today``; draw the aging charts (amounts in
    ``locale``)."""
    aging = kpis.aging(db_session, today)
    return BookFigures(
        computed_at=datetime.now(UTC), aging=aging,
        charts={code: charts.aging_chart(a, lambda amount, c=code: format_money(amount, c, locale))
                for code, a in aging.items()},
        dso=kpis.dso(db_session, today, DSO_DAYS), cei=kpis.cei(db_session, today, CEI_DAYS),
        collected=kpis.collected(db_session, today))


class FigureCache:
    """One app's :class:`BookFigures`, recomputed when the day changes or after
    :data:`CACHE_SECONDS`. Why: at 100k invoices the book-wide queries take a few hundred ms on
    SQLite, far over the console's 100 ms, and a minute-old DSO says the same thing. The queue
    counts and pending ACH, which staff act on, stay live. One computation at a time per
    process (the lock): concurrent requests wait for it rather than all running it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[date, str] | None = None
        self.expires = 0.0
        self.figures: BookFigures | None = None

    def get(self, db_session: Session, today: date, locale: str) -> BookFigures:
        """The figures for ``today``, computed now if missing or stale."""
        with self.lock:
            if self.figures is None or self.key != (today, locale) or clock() >= self.expires:
                self.figures = book_figures(db_session, today, locale)
                self.key, self.expires = (today, locale), clock() + CACHE_SECONDS
            return self.figures


def clock() -> float:
    """Seconds on a monotonic clock (the cache's; tests move it)."""
    return time.monotonic()


def build(db_session: Session, today: date, locale: str,
          cache: FigureCache | None = None) -> Dashboard:
    """Everything the page shows for ``today``: the book-wide figures (from ``cache`` if
    given), then the live ones."""
    book = cache.get(db_session, today, locale) if cache else book_figures(db_session, today,
                                                                           locale)
    return Dashboard(
        today=today, computed_at=book.computed_at, aging=book.aging, charts=book.charts,
        dso=book.dso, dso_period=period(today, DSO_DAYS),
        # CEI's period starts after its beginning balance, taken at the end of today − 30.
        cei=book.cei, cei_period=period(today, CEI_DAYS), collected=book.collected,
        week_start=today - timedelta(days=today.weekday()),
        pending=kpis.pending_ach(db_session), queues=kpis.queue_counts(db_session))


def today() -> date:
    """The dashboard's day: today in UTC, as :mod:`payments.console.kpis` counts days."""
    return datetime.now(UTC).date()


@bp.get("/")
@require_role("viewer")
def dashboard(error: str | None = None, status: int = 200):
    """The overview every staff member starts from."""
    cache = current_app.extensions.setdefault("portal.dashboard_figures", FigureCache())
    view = build(database.session(), today(), current_app.config["PORTAL_LOCALE"], cache)
    # Live, not cached: an indexed read of the flags the daily refresh set.
    worsening, worsening_total = trends.flagged(database.session(), FLAGGED_SHOWN)
    return render_template(
        "staff/dashboard.html", view=view, error=error, kpis=kpis, worsening=worsening,
        worsening_total=worsening_total, worsening_definition=WORSENING_DEFINITION.format(
            days=current_app.config["PORTAL_TREND_WARN_DAYS"]),
        bucket_labels=charts.BUCKET_LABELS, pending_definition=PENDING_DEFINITION,
        queues_definition=QUEUES_DEFINITION,
        disputes_waiting=dispute_reads.count_active(database.session()),  # live, like the queues
    ), status


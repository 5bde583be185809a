"""Benchmark of the reminder tick (target: <= 5 s over 100k open invoices of 10k customers on
PostgreSQL) and of the worklist page (target: p99 <= 100 ms on that book).

Seeds a database of its own (PostgreSQL ``arportal_reminders_bench``, created and dropped; or
a temporary SQLite file) with C customers and N open invoices (due dates spread over the last
120 days and the next 30, amounts varied), every pay link, and collections settings: half the
customers with a learned lateness (0–20 days), a third in New York or Paris time, one in ten
with a contact window. Then times, in-process, with the same code the worker runs:

- the first tick on that book (the day collections is switched on: every overdue invoice has
  a step due or stale at once — the worst case);
- a second tick a quarter of an hour later (nothing new: the cost of planning alone);
- the next business day's tick (the steady state: what a tick costs every day);
- the worklist page, REQUESTS times through the Flask test client, p50 and p99, after an
  ANALYZE (what autovacuum does soon after the ticks' writes).

Each is printed with a baseline measured in the same run: reading the open invoices alone
(the floor of any tick), and a page that only renders the console's frame.

    .venv/bin/python bench/reminders.py [--database postgres|sqlite] [-n 100000] [-c 10000]
        [--requests 300] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the ``bench`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import pg, reminders_data  # noqa: E402
from payments.db import Database, make_engine  # noqa: E402
from payments.migrate import upgrade  # noqa: E402

TICK_TARGET_S = 5.0
PAGE_TARGET_MS = 100.0
PG_NAME = "arportal_reminders_bench"
NOW = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)  # a Tuesday, 10:00 UTC


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--invoices", type=int, default=100_000, help="open invoices [100000]")
    p.add_argument("-c", "--customers", type=int, default=10_000, help="customers [10000]")
    p.add_argument("--requests", type=int, default=300, help="worklist requests [300]")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return p.parse_args(argv)


def database_url(kind: str, folder: Path) -> str:
    """A fresh, empty database of ``kind``."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'reminders.db'}"
    return pg.fresh(PG_NAME)


def drop(kind: str) -> None:
    """Drop the bench's PostgreSQL database."""
    if kind == "postgres":
        pg.drop(PG_NAME)


def timed(work) -> tuple[float, object]:
    """Seconds ``work()`` took, and what it returned."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def ticks(app, db: Database) -> None:
    """Time the three ticks against the bare read of the open invoices."""
    from payments.collections import people, policy, tick
    from portal import reminders

    settings = reminders.settings(app)
    with db.reader() as session:
        book = policy.book(session)
        floor, count = timed(lambda: sum(1 for _ in people.open_invoices(session, book,
                                                                          NOW.date())))
    print(f"baseline: reading the {count} open invoices: {floor:.2f} s")
    for label, now in (("first tick (collections switched on)", NOW),
                       ("second tick, 15 minutes later", NOW + timedelta(minutes=15)),
                       ("next business day's tick", NOW + timedelta(days=1))):
        seconds, report = timed(lambda now=now: tick.run(db, settings, now))
        verdict = "meets" if seconds <= TICK_TARGET_S else "MISSES"
        print(f"{label}: {seconds:.2f} s ({seconds / floor:.1f}x the read; {verdict} the "
              f"{TICK_TARGET_S:.0f} s target): {report.customers} customers, "
              f"{len(report.emails)} emails, {report.tasks} tasks, {report.skipped} skipped, "
              f"{report.stopped} stopped")


def worklist(app, requests: int) -> None:
    """p50/p99 of the worklist page against the console's lightest page (sessions)."""
    from bench.reminders_data import login

    # A web worker holds none of the ticks' objects: collect them first, and keep what is left
    # out of the collector's way, or the page pays for scanning the bench's own heap.
    gc.collect()
    gc.freeze()
    client = login(app)
    for label, path in (("baseline: /staff/sessions", "/staff/sessions"),
                        ("worklist", "/staff/worklist")):
        if path.endswith("worklist") and "staff.worklist" not in app.view_functions:
            print("worklist: skipped (no such page)")
            continue
        times = []
        for n in range(requests + 20):
            seconds, response = timed(lambda path=path: client.get(path))
            assert response.status_code == 200, response.status_code
            if n >= 20:  # warm-up
                times.append(seconds * 1000)
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(f"{label}: p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms"
              + (f" ({'meets' if p99 <= PAGE_TARGET_MS else 'MISSES'} the "
                 f"{PAGE_TARGET_MS:.0f} ms target)" if path.endswith("worklist") else ""))


def main(argv: list[str] | None = None) -> None:
    """Seed, time, report."""
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="arportal-reminders-"))
    url = database_url(args.database, folder)
    engine = make_engine(url)
    upgrade(engine)
    key = secrets.token_hex(32)
    seconds, _ = timed(lambda: reminders_data.seed(engine, args.customers, args.invoices,
                                                   key, NOW.date()))
    engine.dispose()
    print(f"seeded {args.customers} customers, {args.invoices} open invoices on "
          f"{args.database} in {seconds:.0f} s")
    from portal import create_app

    app = create_app({"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": secrets.token_hex(16),
                      "PORTAL_LINK_KEY": key, "PORTAL_TASKS_IMMEDIATE": True,
                      "PORTAL_QUEUE_PATH": str(folder / "tasks.db"), "TESTING": True,
                      "PORTAL_PDF_CACHE_DIR": str(folder / "pdf")})
    db = app.extensions["portal.db"]
    try:
        ticks(app, db)
        # What autovacuum does soon after the ticks' writes: without fresh statistics the
        # planner takes the new tables for empty and picks plans for empty tables.
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        worklist(app, args.requests)
    finally:
        db.dispose()
        if not args.keep:
            drop(args.database)
    print(f"date {date.today().isoformat()}; load average "
          + " ".join(f"{x:.2f}" for x in __import__("os").getloadavg()))


if __name__ == "__main__":
    main()

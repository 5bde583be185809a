"""Dashboard KPIs (:mod:`payments.console.kpis`) over a million invoices on PostgreSQL.

Creates a database of its own (``bench_kpis``, dropped and created again through the server's
``postgres`` maintenance database), migrates it, and generates in SQL (``INSERT … SELECT
generate_series``) N invoices of M customers issued over two years, paid by a ledger of
payments, partial payments, refunds and pending ACH debits: about 15 % stay open, some never
paid. Then VACUUM ANALYZE, the last 30 days' invoices rewritten (newer than the visibility map,
as in production), and each KPI is timed (a warm-up, then best and median of 5), first
without the dashboard's indexes, then with them (:data:`INDEXES`, as migration 0006 creates
them). Generation takes about a minute and a half at the default size.

    .venv/bin/python bench/kpis.py [--invoices 1000000] [--customers 10000]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/bench_kpis] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Connection, make_url, text
from sqlalchemy.exc import DBAPIError

if __package__ in (None, ""):  # run as a script: make ``payments`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from payments.console import kpis  # noqa: E402
from payments.db import Database, make_engine  # noqa: E402
from payments.migrate import upgrade  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_kpis"
TARGET_S = 1.0
REPEATS = 5
DASHBOARDS = ("whole dashboard", "dashboard, month end")

# The dashboard's indexes, as migration 0006 creates them on PostgreSQL: name -> statement.
INDEXES = {
    "ix_invoices_unpaid": "CREATE INDEX ix_invoices_unpaid ON invoices (issue_date, id, "
                          "currency, due_date, total, amount_paid, voided_at) "
                          "WHERE amount_paid < total",
    "ix_invoices_issue_date": "CREATE INDEX ix_invoices_issue_date ON invoices (issue_date, "
                              "currency, total, voided_at)",
    "ix_ledger_entries_created_at": "CREATE INDEX ix_ledger_entries_created_at "
                                    "ON ledger_entries (created_at)",
    "ix_payments_pending": "CREATE INDEX ix_payments_pending ON payments (currency, amount) "
                           "WHERE status = 'pending'",
    "ix_payments_unconfirmed": "CREATE INDEX ix_payments_unconfirmed ON payments (id) "
                               "WHERE status = 'succeeded' AND confirmed_at IS NULL",
}

# One row per invoice: who, when, how much, and how it gets paid (r3: its fate, r4: delay).
_PLAN = """
CREATE TEMP TABLE plan AS
SELECT i, c AS customer_id,
       CASE WHEN c % 100 < 88 THEN 'USD' WHEN c % 100 < 96 THEN 'EUR' ELSE 'CAD' END AS currency,
       d AS issue_date, d + terms AS due_date, total, r3, r5,
       d + terms - 10 + floor(r4 * r4 * 120)::int AS pay_day
FROM (SELECT i, 1 + (i * 2654435761) % :customers AS c,
             :anchor - ((:n - i) * 730 / :n)::int AS d,
             (ARRAY[30, 30, 45, 60])[1 + i % 4] AS terms,
             1000 + floor(r2 * r2 * 2000000)::bigint AS total, r3, r4, r5
      FROM (SELECT i, random() AS r2, random() AS r3, random() AS r4, random() AS r5
            FROM generate_series(1, :n) AS i) AS r) AS p
"""
# r3 < .005 void; < .05 never paid; < .15 pays 40 % half-way and the rest on pay_day; else all
# on pay_day. 1 % of full payers get 10 % refunded three days later (on their payment). A third
# of the payments due in the next four days are ACH debits clearing now. No entry is after now.
_ENTRIES = """
CREATE TEMP TABLE entries AS
SELECT e.* FROM (
  SELECT i, slot, kind, paid, pending,
         CASE WHEN slot = 3 THEN now() - interval '1 day'
              ELSE (day + make_interval(secs => floor(r5 * 86399)))::timestamp
                   AT TIME ZONE 'UTC' END AS ts
  FROM (SELECT p.*, p.total * 4 / 10 AS first FROM plan p WHERE r3 >= 0.005) AS p
  CROSS JOIN LATERAL (VALUES
    (1, 'payment', CASE WHEN r3 < 0.15 THEN first ELSE total END, 0::bigint,
        CASE WHEN r3 < 0.05 THEN NULL WHEN r3 < 0.15 THEN issue_date + (pay_day - issue_date) / 2
             ELSE pay_day END),
    (2, 'payment', total - first, 0, CASE WHEN r3 >= 0.05 AND r3 < 0.15 THEN pay_day END),
    (3, 'pending', 0, CASE WHEN r3 < 0.15 THEN total - first ELSE total END,
        CASE WHEN r3 >= 0.05 AND pay_day > :anchor AND pay_day <= :anchor + 4 AND i % 3 = 0
             THEN CAST(:anchor AS date) END),
    (4, 'refund', -greatest(total / 10, 1), 0,
        CASE WHEN r3 >= 0.15 AND r5 < 0.01 THEN pay_day + 3 END)
  ) AS v(slot, kind, paid, pending, day)
  WHERE day IS NOT NULL) AS e
WHERE e.ts <= now()
"""
_STEPS = (
    ("customers", """INSERT INTO customers (id, external_id, name, email, created_at, updated_at)
        SELECT c, 'CUST-' || c, 'Customer ' || c, 'ap' || c || '@example.com', now(), now()
        FROM generate_series(1, :customers) AS c"""),
    ("invoices", """INSERT INTO invoices (id, external_id, customer_id, number, currency,
        issue_date, due_date, terms, subtotal, tax_amount, total, allow_partial, amount_paid,
        amount_pending, voided_at, revision, content_hash, created_at, updated_at)
        SELECT p.i, 'INV-' || p.i, customer_id, 'N' || p.i, currency, issue_date, due_date,
               'Net ' || (due_date - issue_date), total - total / 13, total / 13, total,
               r3 < 0.15, coalesce(s.paid, 0), coalesce(s.pending, 0),
               CASE WHEN r3 < 0.005 THEN issue_date + 2 END, 1, md5(p.i::text),
               issue_date, issue_date
        FROM plan p LEFT JOIN (SELECT i, sum(paid) AS paid, sum(pending) AS pending
                               FROM entries GROUP BY i) AS s ON s.i = p.i ORDER BY p.i"""),
    ("payments", """INSERT INTO payments (id, payment_intent_id, customer_id, method, currency,
        amount, status, amount_refunded, amount_disputed, confirmed_at, synced_at, created_at,
        updated_at)
        SELECT e.i * 3 + e.slot - 3, 'pi_' || e.i || '_' || e.slot, p.customer_id,
               CASE WHEN e.slot = 3 OR e.i % 4 = 0 THEN 'us_bank_account' ELSE 'card' END,
               p.currency, e.paid + e.pending, CASE WHEN e.slot = 3 THEN 'pending'
               ELSE 'succeeded' END, coalesce(-r.paid, 0), 0,
               CASE WHEN e.slot < 3 AND e.ts + interval '2 days' <= now()
                    THEN e.ts + interval '2 days' END, e.ts, e.ts, e.ts
        FROM entries e JOIN plan p ON p.i = e.i
        LEFT JOIN entries r ON r.i = e.i AND r.slot = 4 AND e.slot = 1
        WHERE e.slot < 4 ORDER BY e.i, e.slot"""),
    ("ledger entries", """INSERT INTO ledger_entries (invoice_id, payment_id, kind, paid_delta,
        pending_delta, cause, created_at)
        SELECT e.i, CASE WHEN e.slot = 4 THEN e.i * 3 - 2 ELSE e.i * 3 + e.slot - 3 END,
               e.kind, e.paid, e.pending,
               CASE e.slot WHEN 3 THEN 'pi_' || e.i || '_3:pending' WHEN 4 THEN 're_' || e.i
                    ELSE 'pi_' || e.i || '_' || e.slot || ':' || 'paid' END, e.ts
        FROM entries e ORDER BY e.ts"""),
    ("exceptions", """INSERT INTO reconciliation_exceptions (kind, cause, amount, currency,
        details, created_at, resolved_at)
        SELECT (ARRAY['unmatched_payment', 'overpayment', 'currency_mismatch'])[1 + k % 3],
               'bench:' || k, 1000 + k, 'USD', '{}', now(),
               CASE WHEN k % 4 = 0 THEN now() END
        FROM generate_series(1, 400) AS k"""),
)
# Autovacuum passes over a million-row table rarely (20 % changed by default): the last month's
# invoices and payments are newer than the visibility map, so index-only scans visit the heap
# for them, as in production. Rewrite those rows after the VACUUM to get the same state.
_CHURN = """
WITH recent AS (SELECT invoice_id AS id FROM ledger_entries
                WHERE created_at > now() - interval '30 days')
UPDATE invoices SET revision = revision + 1
WHERE issue_date > current_date - 30 OR id IN (SELECT id FROM recent)"""
_SEQUENCES = ("customers", "invoices", "payments", "ledger_entries")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--invoices", type=int, default=1_000_000, help="invoices [1000000]")
    p.add_argument("--customers", type=int, default=10_000, help="customers [10000]")
    p.add_argument("--url", default=DEFAULT_URL,
                   help="the bench database, dropped and created again [%(default)s]")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--reuse", action="store_true",
                   help="time a database kept by an earlier --keep run (no generation)")
    args = p.parse_args(argv)
    url = make_url(args.url)
    if url.get_backend_name() != "postgresql" or "bench" not in (url.database or ""):
        p.error("--url must be a PostgreSQL database whose name contains 'bench' (it is dropped)")
    if args.invoices < args.customers or args.customers < 1:
        p.error("need at least one customer and one invoice per customer")
    return args


def _maintenance(url: str, statement: str) -> None:
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(statement)
    admin.dispose()


def create_database(url: str) -> None:
    """Drop the bench database if it exists, create it empty and migrate it.

    Never forces the drop: a session on that database (another run of this bench) stops us.
    """
    name = make_url(url).database
    try:
        _maintenance(url, f'DROP DATABASE IF EXISTS "{name}"')
        _maintenance(url, f'CREATE DATABASE "{name}"')
    except DBAPIError as exc:
        raise SystemExit(f"cannot (re)create {name}: {exc.orig}\n"
                         "another run may be using it: pass --url with another name") from exc
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def generate(url: str, invoices: int, customers: int, anchor: date) -> None:
    """Fill the bench database in SQL, one step at a time (timings printed), then ANALYZE."""
    engine = make_engine(url)
    params = {"n": invoices, "customers": customers, "anchor": anchor}
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        conn.exec_driver_sql("SELECT setseed(0.42)")
        _step(conn, "plan", _PLAN, params)
        _step(conn, "entries", _ENTRIES, params)
        for name, sql in _STEPS:
            _step(conn, name, sql, params)
        for table in _SEQUENCES:
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT max(id) FROM {table}))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        _step(conn, "vacuum analyze", "VACUUM ANALYZE", {})
        _step(conn, "churn since vacuum", _CHURN, {})
        _step(conn, "analyze", "ANALYZE", {})
    engine.dispose()


def _step(conn: Connection, name: str, sql: str, params: dict) -> None:
    started = time.perf_counter()
    rows = conn.execute(text(sql), params).rowcount
    count = f"{rows:>10,} rows" if rows and rows > 0 else " " * 15
    print(f"  {name:<30}{count}  {time.perf_counter() - started:6.1f} s", flush=True)


def describe(db: Database) -> None:
    """What was generated: invoices, open share, ledger size; and the machine's load."""
    with db.reader() as session:
        row = session.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE amount_paid < total AND voided_at IS NULL),"
            " (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM payments),"
            " min(issue_date), max(issue_date) FROM invoices")).one()
    print(f"{row[0]:,} invoices issued {row[4]} to {row[5]}, {row[1]:,} open "
          f"({row[1] / row[0]:.1%}); {row[2]:,} ledger entries, {row[3]:,} payments")
    print("load average before timing: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
          + f" ({os.cpu_count()} CPUs)")


def kpi_calls(as_of: date) -> dict[str, Callable]:
    """The dashboard's queries, by name."""
    return {
        "aging": lambda s: kpis.aging(s, as_of),
        "dso (90 days)": lambda s: kpis.dso(s, as_of),
        "cei (30 days)": lambda s: kpis.cei(s, as_of),
        "collected": lambda s: kpis.collected(s, as_of),
        "pending_ach": kpis.pending_ach,
        "queue_counts": kpis.queue_counts,
    }


def _timed(db: Database, call: Callable) -> list[float]:
    """Seconds of :data:`REPEATS` runs of ``call`` after a warm-up, a fresh session each."""
    runs = []
    for attempt in range(REPEATS + 1):
        with db.reader() as session:
            started = time.perf_counter()
            call(session)
            if attempt:
                runs.append(time.perf_counter() - started)
    return runs


def _dashboard(calls: dict[str, Callable]) -> Callable:
    return lambda session: [call(session) for call in calls.values()]


def measure(db: Database, anchor: date) -> dict[str, list[float]]:
    """Each KPI as of ``anchor``, then the whole dashboard in one session as of ``anchor`` and
    as of the last day of the month before (the longest "collected this month" window)."""
    calls = kpi_calls(anchor)
    month_end = kpi_calls(anchor.replace(day=1) - timedelta(days=1))
    times = {name: _timed(db, call) for name, call in calls.items()}
    times["collected, month end"] = _timed(db, month_end["collected"])
    times[DASHBOARDS[0]] = _timed(db, _dashboard(calls))
    times[DASHBOARDS[1]] = _timed(db, _dashboard(month_end))
    return times


def report(title: str, times: dict[str, list[float]]) -> None:
    """The table: best and median per KPI, and the dashboards against the target."""
    print(f"\n{title}")
    print(f"{'':<24}{'best ms':>10}{'median ms':>11}")
    for name, runs in times.items():
        print(f"{name:<24}{min(runs) * 1000:>10.1f}{statistics.median(runs) * 1000:>11.1f}")
    for name in DASHBOARDS:
        whole = statistics.median(times[name])
        verdict = "ok" if whole <= TARGET_S else "MISSED"
        print(f"{name} (median): {whole * 1000:.0f} ms   (target <= {TARGET_S * 1000:.0f} ms: "
              f"{verdict})")


def drop_indexes(db: Database) -> None:
    """Drop the dashboard's indexes (migration 0006 made them), to time the KPIs without."""
    with db.engine.begin() as conn:
        for name in INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def add_indexes(db: Database) -> None:
    """Create the dashboard's indexes again and ANALYZE (timings printed)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name, sql in INDEXES.items():
            _step(conn, name, sql, {})
        _step(conn, "analyze", "ANALYZE", {})


def main(argv: list[str] | None = None) -> int:
    """Create, fill and time; drop the database at the end unless ``--keep``."""
    args = parse_args(argv)
    anchor = date.today()
    started = time.perf_counter()
    if not args.reuse:
        print(f"generating {args.invoices:,} invoices of {args.customers:,} customers "
              f"into {make_url(args.url).database}", flush=True)
        create_database(args.url)
        generate(args.url, args.invoices, args.customers, anchor)
        print(f"generated in {time.perf_counter() - started:.0f} s")
    db = Database(args.url)
    try:
        drop_indexes(db)
        describe(db)
        report(f"KPIs as of {anchor}, without the dashboard's indexes", measure(db, anchor))
        print("\ncreating the dashboard's indexes (migration 0006):")
        add_indexes(db)
        report(f"KPIs as of {anchor}, with the dashboard's indexes", measure(db, anchor))
    finally:
        db.dispose()
        if not args.keep:
            _maintenance(args.url, f'DROP DATABASE IF EXISTS "{make_url(args.url).database}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())

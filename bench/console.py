"""Benchmark of the staff console's pages: p99 <= 100 ms with 100k invoices.

Seeds a temporary SQLite database (or, with ``--database postgres``, a PostgreSQL database of
its own, ``arportal_console_bench``, created and dropped) with N invoices (bench/data.py:
customers, lines, pay links; four in five not fully paid), then what the console reads
(bench/console_data.py): for every invoice paid in full or in part a payment with its attempt,
allocation and ledger entry (one in fifty, and the last two days', left for staff to confirm),
the ACH debits still clearing, and open and resolved reconciliation exceptions. Serves the
portal with ``gunicorn -w 2`` (sync workers, no access log; bench/runner.py), logs a clerk in
(the session cookie goes in wrk's Cookie header), then loads each console page whose endpoint
is registered with ``wrk`` (detail pages on random ids), a warm-up and then DURATION seconds
per page, and prints req/s, p50 and p99 against the target. A page whose endpoint does not
exist is printed as "skipped". Last, the dashboard's book-wide KPIs timed in-process with a
cold cache (what a worker pays once a minute), and the load average: on a shared machine, read
the figures with it. wrk comes from ``scripts/system-deps --bench``.

    .venv/bin/python bench/console.py [-n 100000] [-d 8] [-c 4] [-t 2] [--warmup 2]
        [--pages dashboard,...] [--database sqlite|postgres] [--keep]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the ``bench`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import data, pg, runner  # noqa: E402
from bench.console_data import PASSWORD, STAFF, seed_console_data  # noqa: E402
from bench.pages import free_port  # noqa: E402
from payments.db import make_engine  # noqa: E402
from payments.links.tokens import LinkKey  # noqa: E402
from payments.migrate import upgrade  # noqa: E402

TARGET_P99_MS = 100.0
PG_NAME = "arportal_console_bench"
# (label, endpoint): the console pages a clerk works in, in the order a day goes.
PAGES = (("dashboard", "staff.dashboard"), ("confirmation queue", "staff.confirmations"),
         ("exceptions queue", "staff.exceptions"), ("invoice list", "staff.invoices"),
         ("invoice detail", "staff.invoice"), ("customer list", "staff.customers"),
         ("customer detail", "staff.customer"), ("exception detail", "staff.exception"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--invoices", type=int, default=100_000, help="invoices [100000]")
    p.add_argument("-d", "--duration", type=float, default=8, help="seconds per page [8]")
    p.add_argument("-c", "--connections", type=int, default=4, help="wrk connections [4]")
    p.add_argument("-t", "--threads", type=int, default=2, help="wrk threads [2]")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds per page [2]")
    p.add_argument("--paths", type=int, default=1000, help="distinct ids per detail page [1000]")
    p.add_argument("--pages", default="", help="only these pages, by label, comma-separated "
                   "(e.g. dashboard,invoice list) [all]")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (DB, logs, paths)")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                   help="where the portal keeps its data [sqlite]")
    args = p.parse_args(argv)
    if args.invoices < 100:
        p.error("--invoices must be at least 100")
    args.pages = [x.strip() for x in args.pages.split(",") if x.strip()]
    if unknown := set(args.pages) - {label for label, _ in PAGES}:
        p.error(f"unknown pages: {', '.join(sorted(unknown))}")
    return args


def database_url(kind: str, tmp: Path) -> str:
    """A fresh, empty database of ``kind``."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'portal.db'}"
    return pg.fresh(PG_NAME)


def prepare(tmp: Path, invoices: int, kind: str) -> tuple[dict[str, str], dict[str, int]]:
    """Migrate and seed the database; return the servers' environment and what was seeded."""
    link_key = secrets.token_urlsafe(48)
    anchor = date.today()
    url = database_url(kind, tmp)
    engine = make_engine(url)
    upgrade(engine)
    data.seed(engine, invoices, LinkKey(link_key.encode()), anchor)
    counts = seed_console_data(engine, anchor)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if kind == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    env = {"PORTAL_DATABASE_URL": url,
           "PORTAL_SECRET_KEY": secrets.token_urlsafe(48), "PORTAL_LINK_KEY": link_key,
           "PORTAL_INSTANCE_PATH": str(tmp), "PORTAL_PDF_CACHE_DIR": "", "PORTAL_REDIS_URL": "",
           "STRIPE_SECRET_KEY": ""}
    return env, counts


def page_paths(env: dict[str, str], counts: dict[str, int], many: int
               ) -> dict[str, list[str] | None]:
    """Per page label: the paths to request (random ids for a detail page), None if missing."""
    from portal import create_app

    app = create_app({k: v for k, v in env.items() if v})
    ranges = {"invoice_id": counts["invoices"], "customer_id": data.customer_count(
        counts["invoices"]), "exception_id": counts["exceptions"]}
    rng = random.Random(7)
    out: dict[str, list[str] | None] = {}
    for label, endpoint in PAGES:
        rules = [r for r in app.url_map.iter_rules(endpoint) if "GET" in r.methods] \
            if endpoint in app.view_functions else []
        if not rules:
            out[label] = None
            continue
        args = sorted(rules[0].arguments)
        with app.test_request_context():
            from flask import url_for

            out[label] = [url_for(endpoint, **{a: rng.randint(1, ranges[a]) for a in args})
                          for _ in range(many if args else 1)]
    app.extensions["portal.db"].dispose()
    return out


def cold_dashboard(env: dict[str, str], repeats: int = 3) -> list[float]:
    """Milliseconds the dashboard's book-wide queries take when its cache is cold (in-process,
    one run after another): what the first request of each minute costs a worker."""
    from payments.db import Database
    from portal.staff.dashboard import book_figures

    db, runs = Database(env["PORTAL_DATABASE_URL"]), []
    for _ in range(repeats):
        with db.reader() as session:
            started = time.perf_counter()
            book_figures(session, date.today(), "en_US")
            runs.append((time.perf_counter() - started) * 1000)
    db.dispose()
    return runs


def log_in(base_url: str) -> str:
    """Log the bench clerk in through the form; return the Cookie header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base_url}/staff/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    form = urllib.parse.urlencode({"email": STAFF, "password": PASSWORD, "csrf_token": token})
    opener.open(f"{base_url}/staff/login", form.encode()).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def check(base_url: str, path: str, cookie: str) -> int:
    """The status a logged-in GET of ``path`` answers (302 would mean the login was lost)."""
    request = urllib.request.Request(base_url + path, headers={"Cookie": cookie})
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        return opener.open(request).status
    except urllib.error.HTTPError as exc:
        return exc.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def load(base_url: str, paths: Path, cookie: str, seconds: float,
         args: argparse.Namespace) -> runner.LoadResult:
    """wrk on random paths of ``paths`` with the session cookie."""
    cmd = [runner.wrk_path(), f"-t{args.threads}", f"-c{args.connections}",
           f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s",
           "-H", f"Cookie: {cookie}", "-s", str(runner.BENCH / "paths.lua"), base_url,
           "--", str(paths)]
    return runner.parse_wrk(subprocess.run(cmd, capture_output=True, text=True,
                                           check=True).stdout)


def run_pages(tmp: Path, env: dict[str, str], pages: dict[str, list[str] | None],
              args: argparse.Namespace) -> dict[str, runner.LoadResult | str]:
    """Serve the portal, log in, and load each page in turn; a string says why it was not."""
    port = free_port()
    env = {**env, "PORTAL_BASE_URL": f"http://127.0.0.1:{port}"}
    results: dict[str, runner.LoadResult | str] = {}
    with runner.server("wsgi:app", port, env, tmp / "portal.log", "/staff/login") as url:
        cookie = log_in(url)
        for label, paths in pages.items():
            if paths is None:
                results[label] = "skipped (no such endpoint)"
                continue
            status = check(url, paths[0], cookie)
            if status != 200:
                results[label] = f"skipped (GET {paths[0]} answered {status})"
                continue
            paths_file = tmp / f"paths-{label.replace(' ', '-')}.txt"
            paths_file.write_text("".join(f"{p}\n" for p in paths))
            if args.warmup > 0:
                load(url, paths_file, cookie, args.warmup, args)
            results[label] = load(url, paths_file, cookie, args.duration, args)
    return results


def report(args: argparse.Namespace, counts: dict[str, int],
           results: dict[str, runner.LoadResult | str]) -> None:
    """The table: req/s, p50, p99 per page, and each page against the target."""
    database = "SQLite" if args.database == "sqlite" else "PostgreSQL"
    print(f"\nstaff console on {counts['invoices']:,} invoices ({database}), "
          f"{counts['payments']:,} payments ({counts['unconfirmed']:,} to confirm), "
          f"{counts['exceptions']} exceptions;"
          f"\ngunicorn -w 2 sync, no access log; wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration:g}s per page after {args.warmup:g}s warm-up, logged in as a clerk")
    print(f"{'page':<20}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}"
          f"   target p99 <= {TARGET_P99_MS:g} ms")
    for label, r in results.items():
        if isinstance(r, str):
            print(f"{label:<20}{r}")
            continue
        verdict = "ok" if r.p99 <= TARGET_P99_MS and not r.errors else "MISSED"
        print(f"{label:<20}{r.rps:>9.1f}{r.p50:>9.2f}{r.p99:>9.2f}{r.requests:>10,}"
              f"{r.errors:>8}   {verdict}")


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, load, print."""
    args = parse_args(argv)
    runner.wrk_path()
    tmp = Path(tempfile.mkdtemp(prefix="portal-console-bench-"))
    try:
        started = time.perf_counter()
        env, counts = prepare(tmp, args.invoices, args.database)
        print(f"seeded {counts['invoices']:,} invoices, {counts['payments']:,} payments in "
              f"{time.perf_counter() - started:.1f}s ({tmp})", flush=True)
        pages = {label: paths for label, paths in page_paths(env, counts, args.paths).items()
                 if not args.pages or label in args.pages}
        report(args, counts, run_pages(tmp, env, pages, args))
        cold = cold_dashboard(env)
        print(f"dashboard with a cold cache (book-wide KPIs, once a minute per worker): "
              f"best {min(cold):.0f} ms, median {sorted(cold)[1]:.0f} ms of {len(cold)}")
        print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
              + f" ({os.cpu_count()} CPUs)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            if args.database == "postgres":
                pg.drop(PG_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())

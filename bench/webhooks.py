"""Webhook throughput: 10,000 signed events of a realistic mix posted to ``gunicorn -w 2``
(gthread workers with 4 threads each, as ``gunicorn.conf.py`` runs the portal; ``--threads 0``
for sync workers).

For SQLite and PostgreSQL, measures the portal's ``/stripe/webhook`` (verify, store once, handle
against the Stripe sandbox, ledger) and, in the same run, a bare endpoint that only verifies the
signature and inserts the event id: the ceiling. Prints events/s, p50/p99 and the ratio, then
checks that the ledger verifies and every payment was counted once.

    .venv/bin/python bench/webhooks.py [--events 10000] [--payments 600] [--threads 4]
        [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import urllib.error  # noqa: E402

from sqlalchemy import func, select, text  # noqa: E402

from bench import runner, webhook_data  # noqa: E402
from payments.db import Database  # noqa: E402
from payments.events import event_store  # noqa: E402
from payments.ledger import ledger  # noqa: E402
from payments.ledger.models import Payment  # noqa: E402
from payments.migrate import upgrade  # noqa: E402

SECRET = "whsec_bench_webhooks"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/arportal_bench"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_all(url: str, stream: list[dict], concurrency: int) -> tuple[float, list[float], int]:
    """POST every event (signed at send time); returns (seconds, latencies in ms, non-2xx)."""
    bodies = [json.dumps(e).encode() for e in stream]

    def send(body: bytes) -> tuple[float, int]:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Stripe-Signature": event_store.sign(body, SECRET)})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 (local)
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return (time.perf_counter() - started) * 1000, status

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(send, bodies))
    elapsed = time.perf_counter() - started
    return elapsed, [ms for ms, _ in results], sum(1 for _, s in results if s >= 300)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def fresh_database(kind: str, tmp: Path) -> str:
    """An empty, migrated database of ``kind``; returns its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'webhooks.db'}"
    else:
        admin = Database(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.engine.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS arportal_bench WITH (FORCE)")
            conn.exec_driver_sql("CREATE DATABASE arportal_bench")
        admin.dispose()
        url = PG_BENCH
    db = Database(url)
    upgrade(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bare_events (id VARCHAR(255) PRIMARY KEY)"))
    db.dispose()
    return url


def measure(kind: str, tmp: Path, sandbox_url: str, stream: list[dict], args) -> dict:
    """Run both servers on a fresh ``kind`` database; returns the figures."""
    url = fresh_database(kind, tmp)
    db = Database(url)
    webhook_data.seed_portal(db.engine, args.payments)
    env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench-secret",
           "PORTAL_LINK_KEY": "bench-link-key-0123456789abcdef0123456789",
           "PORTAL_INSTANCE_PATH": str(tmp), "STRIPE_SECRET_KEY": "sk_test_bench",
           "STRIPE_API_BASE": sandbox_url, "STRIPE_WEBHOOK_SECRET": SECRET}
    figures = {}
    for name, app, probe in (("portal", "wsgi:app", "/logo"),
                             ("bare", "bench.bare_webhook:app", "/")):
        port = free_port()
        with runner.server(app, port, env, tmp / f"{kind}-{name}.log", probe,
                           threads=args.threads) as base:
            elapsed, latencies, errors = post_all(f"{base}/stripe/webhook", stream,
                                                  args.concurrency)
        figures[name] = {"eps": len(stream) / elapsed, "p50": percentile(latencies, 50),
                         "p99": percentile(latencies, 99), "errors": errors}
    with db.reader() as session:
        figures["differences"] = len(ledger.verify(session))
        figures["payments"] = session.scalar(select(func.count()).select_from(Payment))
    db.dispose()
    return figures


def start_sandbox(tmp: Path) -> tuple[subprocess.Popen, str]:
    """The Stripe sandbox in its own process (as in production, Stripe is another server).

    One gunicorn worker (the sandbox keeps its state in memory) with threads: unlike the
    werkzeug server of ``portal sandbox`` it keeps connections alive, as Stripe's API does.
    """
    port = free_port()
    log = open(tmp / "sandbox.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(runner.BENCH /
                             "gunicorn.conf.py"), "-w", "1", "-k", "gthread", "--threads", "8",
                             "-b", f"127.0.0.1:{port}", "stripe_sandbox:create_app()"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=runner.ROOT)
    runner.wait_ready(proc, f"http://127.0.0.1:{port}/_sandbox/", tmp / "sandbox.log")
    return proc, f"http://127.0.0.1:{port}"


def report(kind: str, f: dict) -> None:
    """Print one database's figures."""
    ratio = f["portal"]["eps"] / f["bare"]["eps"]
    for name in ("portal", "bare"):
        r = f[name]
        print(f"{kind:<10} {name:<7} {r['eps']:>9.0f} ev/s  p50 {r['p50']:>7.1f} ms  "
              f"p99 {r['p99']:>7.1f} ms  non-2xx {r['errors']}")
    verdict = "meets" if ratio >= 0.5 else "MISSES"
    print(f"{kind:<10} ratio portal/bare = {ratio:.2f} ({verdict} the 0.5 target); "
          f"payments recorded {f['payments']}; ledger differences {f['differences']}")


def main(argv: list[str] | None = None) -> int:
    """Prepare the sandbox payments once, then measure each database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--threads", type=int, default=4,
                        help="gthread threads per worker (0: sync workers), both servers")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as name:
        tmp = Path(name)
        sandbox, sandbox_url = start_sandbox(tmp)
        try:
            print(f"Making {args.payments} payments in the sandbox…", flush=True)
            webhook_data.make_payments(sandbox_url, args.payments)
            stream = webhook_data.stream(webhook_data.all_events(sandbox_url), args.events)
            print(f"{len(stream)} events, {len({e['id'] for e in stream})} distinct; "
                  f"{args.concurrency} concurrent senders\n", flush=True)
            for kind in args.databases.split(","):
                report(kind, measure(kind, tmp, sandbox_url, stream, args))
        finally:
            sandbox.terminate()
            sandbox.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Webhooks, intake and processing: 10,000 signed events of a realistic mix.

For SQLite and PostgreSQL, in one run:

- **intake**: the events posted to the portal's ``/stripe/webhook`` under ``gunicorn -w 2``
  (gthread, 4 threads each, as ``gunicorn.conf.py`` runs it; ``--threads 0`` for sync workers)
  with no consumer running (verify, store once, queue), next to a bare endpoint that only
  verifies the signature and inserts the event id: the ceiling, and the ratio;
- **processing**: ``portal worker`` consumers (one, then two, each ``--workers 4`` threads)
  applying the stored events against the Stripe sandbox, in events/s until none is left;
- **latency**: with one consumer running, events posted at a steady ``--rate`` (200/s); the time
  from intake to applied (``processed_at − received_at``), p50 and p99.

Then checks that the ledger verifies and every payment was counted once.

    .venv/bin/python bench/webhooks.py [--events 10000] [--payments 600] [--threads 4]
        [--rate 200] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import urllib.error  # noqa: E402

from sqlalchemy import func, select, text  # noqa: E402

from bench import runner, webhook_data  # noqa: E402
from payments.db import Database  # noqa: E402
from payments.events import event_store, processing  # noqa: E402
from payments.events.models import StripeEvent  # noqa: E402
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


def send(url: str, body: bytes) -> tuple[float, int]:
    """POST one event body (signed now); returns (latency in ms, status)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Stripe-Signature": event_store.sign(body, SECRET)})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 (local)
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return (time.perf_counter() - started) * 1000, status


def post_all(url: str, stream: list[dict], concurrency: int) -> tuple[float, list[float], int]:
    """POST every event as fast as ``concurrency`` senders can; returns (seconds, latencies in
    ms, non-2xx)."""
    bodies = [json.dumps(e).encode() for e in stream]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda body: send(url, body), bodies))
    elapsed = time.perf_counter() - started
    return elapsed, [ms for ms, _ in results], sum(1 for _, s in results if s >= 300)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def fresh_database(kind: str, tmp: Path, name: str) -> str:
    """An empty, migrated database of ``kind`` (SQLite: the file ``name``); returns its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / name}"
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


def _env(url: str, tmp: Path, queue: str, sandbox_url: str) -> dict[str, str]:
    return {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench-secret",
            "PORTAL_LINK_KEY": "bench-link-key-0123456789abcdef0123456789",
            "PORTAL_INSTANCE_PATH": str(tmp), "PORTAL_QUEUE_PATH": str(tmp / queue),
            "STRIPE_SECRET_KEY": "sk_test_bench", "STRIPE_API_BASE": sandbox_url,
            "STRIPE_WEBHOOK_SECRET": SECRET}


def _figures(elapsed: float, count: int, latencies: list[float], errors: int) -> dict:
    return {"eps": count / elapsed, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "errors": errors}


@contextmanager
def consumers(n: int, env: dict[str, str], tmp: Path) -> Iterator[None]:
    """``n`` ``portal worker`` processes (4 threads each, no ticks) until the block ends."""
    portal = str(Path(sys.executable).with_name("portal"))
    logs = [open(tmp / f"worker-{i}.log", "wb") for i in range(n)]  # noqa: SIM115
    procs = [subprocess.Popen([portal, "worker", "--workers", "4", "--no-ticks"],
                              env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                              cwd=runner.ROOT) for log in logs]
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc, log in zip(procs, logs, strict=True):
            proc.wait(30)
            log.close()


def drain(db: Database, timeout: float = 600) -> float:
    """Wait until every stored event is applied; the seconds it took."""
    started = time.perf_counter()
    while processing.unapplied(db):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{processing.unapplied(db)} events still not applied")
        time.sleep(0.05)
    return time.perf_counter() - started


def post_steadily(url: str, stream: list[dict], rate: float) -> None:
    """POST the events at ``rate`` per second (from a few threads, paced by a clock)."""
    started = time.perf_counter()

    def paced(pair: tuple[int, bytes]) -> None:
        n, body = pair
        time.sleep(max(0.0, started + n / rate - time.perf_counter()))
        send(url, body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(paced, enumerate(json.dumps(e).encode() for e in stream)))


def applied_latency(db: Database, ids: set[str]) -> tuple[float, float]:
    """p50 and p99 of processed_at − received_at over the events ``ids``, in ms."""
    with db.reader() as session:
        rows = session.execute(select(StripeEvent.id, StripeEvent.received_at,
                                      StripeEvent.processed_at)).all()
    waits = [(done - got).total_seconds() * 1000 for i, got, done in rows if i in ids and done]
    return percentile(waits, 50), percentile(waits, 99)


def measure(kind: str, tmp: Path, sandbox_url: str, stream: list[dict], args) -> dict:
    """Intake (portal, then bare), processing by one and by two consumers, and the steady
    latency, on fresh ``kind`` databases; returns the figures."""
    steady = stream[-args.rate * 10:]  # ten seconds at the steady rate, after the bulk
    bulk = stream[:-len(steady)]
    figures: dict = {}
    for n in (1, 2):
        url = fresh_database(kind, tmp, f"webhooks-{n}.db")
        db = Database(url)
        webhook_data.seed_portal(db.engine, args.payments)
        env = _env(url, tmp, f"{kind}-queue-{n}.db", sandbox_url)
        with runner.server("wsgi:app", free_port(), env, tmp / f"{kind}-portal-{n}.log",
                           "/logo", threads=args.threads) as base:
            elapsed, latencies, errors = post_all(f"{base}/stripe/webhook", bulk,
                                                  args.concurrency)
            figures.setdefault("portal", _figures(elapsed, len(bulk), latencies, errors))
            stored = processing.unapplied(db)
            with consumers(n, env, tmp):
                figures[f"consumers-{n}"] = stored / drain(db)
                if n == 1:
                    post_steadily(f"{base}/stripe/webhook", steady, args.rate)
                    drain(db)
                    figures["applied"] = applied_latency(db, {e["id"] for e in steady})
        with db.reader() as session:
            figures[f"differences-{n}"] = len(ledger.verify(session))
            figures[f"payments-{n}"] = session.scalar(select(func.count()).select_from(Payment))
        db.dispose()
    url = fresh_database(kind, tmp, "bare.db")
    with runner.server("bench.bare_webhook:app", free_port(),
                       _env(url, tmp, f"{kind}-bare.db", sandbox_url),
                       tmp / f"{kind}-bare.log", "/", threads=args.threads) as base:
        elapsed, latencies, errors = post_all(f"{base}/stripe/webhook", bulk, args.concurrency)
    figures["bare"] = _figures(elapsed, len(bulk), latencies, errors)
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
        print(f"{kind:<10} intake {name:<7} {r['eps']:>9.0f} ev/s  p50 {r['p50']:>7.1f} ms  "
              f"p99 {r['p99']:>7.1f} ms  non-2xx {r['errors']}")
    verdict = "meets" if ratio >= 0.9 else "MISSES"
    print(f"{kind:<10} intake ratio portal/bare = {ratio:.2f} ({verdict} the 0.9 target)")
    print(f"{kind:<10} processing: one consumer {f['consumers-1']:.0f} ev/s, "
          f"two consumers {f['consumers-2']:.0f} ev/s")
    p50, p99 = f["applied"]
    print(f"{kind:<10} intake to applied at a steady rate: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"{kind:<10} payments recorded {f['payments-1']} / {f['payments-2']}; "
          f"ledger differences {f['differences-1']} / {f['differences-2']}")


def main(argv: list[str] | None = None) -> int:
    """Prepare the sandbox payments once, then measure each database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--rate", type=int, default=200, help="steady events per second")
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

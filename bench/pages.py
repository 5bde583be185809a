"""Benchmark of the customer invoice page ``/i/<token>`` and of the invoice PDF.

Seeds a temporary SQLite database with N invoices, serves the portal (``wsgi:app``) and a
from-memory baseline (``bench.baseline``) with ``gunicorn -w 2`` (sync workers, no access
log), loads both with ``wrk`` on random tokens and prints req/s, p50/p99 and their ratio, then
the PDF render and cached-download timings. Run: ``.venv/bin/python bench/pages.py --help``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from payments.db import make_engine
from payments.links.tokens import LinkKey
from payments.migrate import upgrade

if __package__ in (None, ""):  # run as a script: make the ``bench`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import data, pdfs, runner  # noqa: E402

TARGET_RATIO, TARGET_P99_MS = 0.5, 25.0
TARGET_RENDER_MS, TARGET_CACHED_X = 250.0, 50.0
PORTAL_APP, BASELINE_APP = "wsgi:app", "bench.baseline:app_from_env()"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-d", "--duration", type=float, default=10, help="seconds per wrk run [10]")
    p.add_argument("-c", "--connections", type=int, default=16, help="wrk connections [16]")
    p.add_argument("-t", "--threads", type=int, default=2, help="wrk threads [2]")
    p.add_argument("-n", "--invoices", type=int, default=100_000, help="invoices seeded [100000]")
    p.add_argument("--paths", type=int, default=10_000, help="distinct tokens requested [10000]")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured wrk seconds per app [2]")
    p.add_argument("--rounds", type=int, default=1,
                   help="measured runs per app, alternating; medians are reported [1]")
    p.add_argument("--pdf-repeats", type=int, default=3, help="renders per PDF size [3]")
    p.add_argument("--no-pdf", action="store_true", help="skip the PDF figures")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (DB, logs, paths)")
    args = p.parse_args(argv)
    if args.invoices < 10:
        p.error("--invoices must be at least 10")
    return args


def prepare(tmp: Path, args: argparse.Namespace) -> tuple[dict[str, str], LinkKey, Path]:
    """Migrate and seed the database, write the token file; return the env, key and file."""
    link_key = secrets.token_urlsafe(48)
    key = LinkKey(link_key.encode())
    anchor = date.today()
    engine = make_engine(f"sqlite:///{tmp / 'portal.db'}")
    upgrade(engine)
    data.seed(engine, args.invoices, key, anchor)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    paths = tmp / "paths.txt"
    paths.write_text("".join(f"/i/{data.invoice_token(key, i)} {i}\n"
                             for i in data.sample(args.invoices, args.paths)))
    env = {
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp / 'portal.db'}",
        "PORTAL_SECRET_KEY": secrets.token_urlsafe(48), "PORTAL_LINK_KEY": link_key,
        "PORTAL_INSTANCE_PATH": str(tmp), "PORTAL_TOKEN_RATE_LIMIT": "1000000 per minute",
        "PORTAL_PDF_CACHE_DIR": "", "PORTAL_REDIS_URL": "", "STRIPE_SECRET_KEY": "",
        "BENCH_PATHS": str(paths), "BENCH_ANCHOR": anchor.isoformat(),
        "BENCH_INVOICES": str(args.invoices),
    }
    return env, key, paths


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_load(tmp: Path, env: dict[str, str], paths: Path,
             args: argparse.Namespace) -> dict[str, runner.LoadResult]:
    """Start both servers, warm them up, then alternate measured wrk runs between them."""
    probe = paths.read_text().split(None, 1)[0]
    results: dict[str, list[runner.LoadResult]] = {"baseline": [], "portal": []}
    with runner.server(PORTAL_APP, free_port(), env, tmp / "portal.log", probe) as portal_url, \
            runner.server(BASELINE_APP, free_port(), env, tmp / "baseline.log",
                          probe) as baseline_url:
        urls = {"baseline": baseline_url, "portal": portal_url}
        for url in urls.values():
            if args.warmup > 0:
                runner.run_wrk(url, paths, args.warmup, args.connections, args.threads)
        for _ in range(args.rounds):
            for name, url in urls.items():
                results[name].append(runner.run_wrk(url, paths, args.duration,
                                                    args.connections, args.threads))
    return {name: _median_result(runs) for name, runs in results.items()}


def _median_result(runs: list[runner.LoadResult]) -> runner.LoadResult:
    def med(attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    return runner.LoadResult(med("rps"), med("p50"), med("p99"), sum(r.requests for r in runs),
                             sum(r.errors for r in runs))


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_load(args: argparse.Namespace, load: dict[str, runner.LoadResult]) -> None:
    """The page table: req/s, p50, p99 per app, then the ratio and the targets."""
    print(f"\n/i/<token> on {args.invoices:,} invoices (SQLite), gunicorn -w 2 sync, no access log;"
          f" wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s x {args.rounds}"
          f" round(s), {args.paths:,} random tokens")
    print(f"{'app':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>11}{'errors':>8}")
    for name, label in (("baseline", "baseline (memory, no DB)"), ("portal", "portal (wsgi:app)")):
        r = load[name]
        print(f"{label:<28}{r.rps:>10.1f}{r.p50:>10.2f}{r.p99:>10.2f}{r.requests:>11,}"
              f"{r.errors:>8}")
    ratio = load["portal"].rps / load["baseline"].rps
    print(f"ratio portal/baseline req/s: {ratio:.2f}   (target >= {TARGET_RATIO}: "
          f"{_verdict(ratio >= TARGET_RATIO)})")
    p99 = load["portal"].p99
    print(f"portal p99: {p99:.2f} ms   (target <= {TARGET_P99_MS:g} ms: "
          f"{_verdict(p99 <= TARGET_P99_MS)})")


def print_pdf(result: pdfs.PdfResult, repeats: int) -> None:
    """The PDF table: first and median render per size, the cached download, the ratio."""
    print(f"\nPDF (portal.pdf.invoice_pdf, empty cache, after a warm-up render; {repeats} renders)")
    print(f"{'':<34}{'first ms':>10}{'median ms':>11}{'p99 ms':>9}")
    print(f"{'render, 10 lines':<34}{result.ten_first:>10.1f}{result.ten_median:>11.1f}")
    print(f"{'render, 200 lines':<34}{result.big_first:>10.1f}{result.big_median:>11.1f}")
    print(f"{'cached GET /i/<token>/pdf':<34}{'':>10}{result.cached_median:>11.2f}"
          f"{result.cached_p99:>9.2f}")
    print(f"10-line first render: {result.ten_first:.1f} ms   (target <= {TARGET_RENDER_MS:g} ms: "
          f"{_verdict(result.ten_first <= TARGET_RENDER_MS)})")
    print(f"ratio render/cached (10 lines, medians): {result.ratio:.0f}x   "
          f"(target >= {TARGET_CACHED_X:g}x: {_verdict(result.ratio >= TARGET_CACHED_X)})")


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark and print the tables."""
    args = parse_args(argv)
    runner.wrk_path()
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    try:
        started = time.perf_counter()
        env, key, paths = prepare(tmp, args)
        print(f"seeded {args.invoices:,} invoices in {time.perf_counter() - started:.1f}s ({tmp})",
              flush=True)
        load = run_load(tmp, env, paths, args)
        print_load(args, load)
        if not args.no_pdf:
            os.environ.update(env)  # the in-process app reads the same settings as the servers
            result = pdfs.measure({"PORTAL_PDF_CACHE_DIR": str(tmp / "pdf-bench")}, key,
                                  args.pdf_repeats)
            print_pdf(result, args.pdf_repeats)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

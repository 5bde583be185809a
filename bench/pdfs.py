"""PDF figures: first renders of a 10-line and a 200-line invoice, and a cached download.

Runs in-process against the seeded database. Renders are timed around
:func:`portal.pdf.invoice_pdf` with an empty cache directory, after one warm-up render of a
different invoice (fonts and WeasyPrint's own start-up are not counted). The cached download is
``GET /i/<token>/pdf`` through the Flask test client once the PDF is in the cache.
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from bench import data
from payments.links import customer_pages
from payments.links.tokens import LinkKey
from portal import create_app, database, pdf, urls
from portal.customer.common import today


@dataclass
class PdfResult:
    """PDF timings in milliseconds (first render and median of the repeats)."""

    ten_first: float
    ten_median: float
    big_first: float
    big_median: float
    cached_median: float
    cached_p99: float

    @property
    def ratio(self) -> float:
        """How many times faster a cached download is than a 10-line render (median)."""
        return self.ten_median / self.cached_median


def measure(config: dict, key: LinkKey, repeats: int = 3, downloads: int = 50) -> PdfResult:
    """Time the renders and the cached download; ``config`` is passed to ``create_app``."""
    app = create_app({**config, "TESTING": True})
    cache = Path(app.config["PORTAL_PDF_CACHE_DIR"])
    render(app, key, data.WARMUP)  # warm-up: fonts, WeasyPrint, Jinja templates
    ten = [_render_empty(app, key, data.TEN_LINES, cache) for _ in range(repeats)]
    big = [_render_empty(app, key, data.BIG, cache) for _ in range(repeats)]
    cached = _cached_downloads(app, data.invoice_token(key, data.TEN_LINES), downloads)
    return PdfResult(ten[0], statistics.median(ten), big[0], statistics.median(big),
                     statistics.median(cached), _p99(cached))


def render(app: Flask, key: LinkKey, i: int) -> float:
    """Milliseconds spent in ``portal.pdf.invoice_pdf`` for bench invoice ``i``."""
    token = data.invoice_token(key, i)
    with app.test_request_context(f"/i/{token}/pdf"):
        state, row = customer_pages.resolve_invoice(database.session(), token)
        if state is not customer_pages.LinkState.OK:
            raise RuntimeError(f"bench invoice {i} does not resolve: {state}")
        view = customer_pages.invoice_view(database.session(), row, today())
        started = time.perf_counter()
        body = pdf.invoice_pdf(view, urls.pay_url(token))
        elapsed = (time.perf_counter() - started) * 1000
    if not body.startswith(b"%PDF"):
        raise RuntimeError("invoice_pdf did not return a PDF")
    return elapsed


def _render_empty(app: Flask, key: LinkKey, i: int, cache: Path) -> float:
    shutil.rmtree(cache, ignore_errors=True)
    return render(app, key, i)


def _cached_downloads(app: Flask, token: str, count: int) -> list[float]:
    client = app.test_client()
    first = client.get(f"/i/{token}/pdf")  # in the cache already; this makes sure of it
    if first.status_code != 200 or first.mimetype != "application/pdf":
        raise RuntimeError(f"GET /i/<token>/pdf answered {first.status_code}")
    times = []
    for _ in range(count):
        started = time.perf_counter()
        resp = client.get(f"/i/{token}/pdf")
        times.append((time.perf_counter() - started) * 1000)
        if resp.data != first.data:
            raise RuntimeError("cached PDF changed between downloads")
    return times


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

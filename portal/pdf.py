"""Invoice, statement and credit note PDFs (WeasyPrint), with the pay link and its QR code.

WeasyPrint only ever sees :class:`StaticOnlyFetcher`: it can load the package's own static files
and the configured logo, nothing else (no ``file://``, no network), so invoice text from the ERP
cannot make the renderer fetch internal URLs. A PDF is rendered once for a given HTML (which
changes with every invoice revision, balance, link and business setting) and then served from
a file cache shared by all workers.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import date
from pathlib import Path

import segno
from flask import current_app, render_template
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from payments.links.customer_pages import AGING_BUCKETS, InvoiceView, StatementView

STATIC_ROOT = Path(__file__).parent / "static"
_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".ttf": "font/ttf",
          ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".woff2": "font/woff2"}


class StaticOnlyFetcher(URLFetcher):
    """Serves ``portal-static:/<file>`` and ``portal-brand:logo``; refuses everything else."""

    def __init__(self, logo_path: str | None = None) -> None:
        super().__init__(allowed_protocols=("portal-static", "portal-brand"), fail_on_errors=False)
        self._logo = Path(logo_path) if logo_path else STATIC_ROOT / "logo.svg"

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        """Return the file behind ``url`` or raise ``ValueError`` (WeasyPrint then skips it)."""
        if url == "portal-brand:logo":
            path = self._logo
        elif url.startswith("portal-static:/"):
            path = (STATIC_ROOT / url.removeprefix("portal-static:/")).resolve()
            if not path.is_relative_to(STATIC_ROOT.resolve()):
                raise ValueError(f"refused to fetch outside the static folder: {url}")
        else:
            raise ValueError(f"refused to fetch {url!r}: PDFs load only bundled files")
        mime = _TYPES.get(path.suffix.lower(), "application/octet-stream")
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})


def render_pdf(html: str) -> bytes:
    """Render HTML to PDF with the locked-down fetcher (no cache)."""
    fetcher = StaticOnlyFetcher(current_app.config.get("PORTAL_LOGO_PATH"))
    return HTML(string=html, base_url="portal-static:/", url_fetcher=fetcher).write_pdf()


def qr_svg(url: str) -> Markup:
    """An inline SVG QR code of ``url`` (segno output, safe to embed)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=3, border=0))  # noqa: S704


def invoice_pdf(view: InvoiceView, pay_url: str, credited: int = 0) -> bytes:
    """The invoice PDF for ``view`` (``credited``: what credit notes and adjustments settled,
    shown apart from the money paid), from the cache when this exact document was rendered
    before."""
    html = render_template("pdf/invoice.html", inv=view, pay_url=pay_url, qr=QR_SLOT,
                           credited=credited)
    return _cached(f"invoice-{view.id}", html, pay_url)


def statement_pdf(view: StatementView, url: str, today: date) -> bytes:
    """The statement PDF of a customer's open invoices as of ``today``."""
    html = render_template("pdf/statement.html", st=view, url=url, qr=QR_SLOT, today=today,
                           buckets=AGING_BUCKETS)
    return _cached(f"statement-{view.customer['customer_id']}", html, url)


def credit_note_pdf(note, invoice, customer) -> bytes:
    """The credit note's PDF (:class:`payments.disputes.models.CreditNote`): the same
    document every time (it shows what the invoice owed once the credit applied); rendered
    on each download, as credit notes are rare."""
    return render_pdf(render_template("pdf/credit_note.html", note=note, invoice=invoice,
                                      customer=customer))


# The QR code takes longer to draw than the rest of the HTML: the cache key is the HTML with
# this slot (the URL it encodes is in the HTML as text), and the code is drawn only on a miss.
QR_SLOT = Markup("<!--portal-qr-->")


def _cached(name: str, html: str, qr_url: str) -> bytes:
    cache = Path(current_app.config["PORTAL_PDF_CACHE_DIR"])
    digest = hashlib.sha256(f"{qr_url}\n{html}".encode()).hexdigest()[:32]
    path = cache / f"{name}-{digest}.pdf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = render_pdf(html.replace(QR_SLOT, qr_svg(qr_url), 1))
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
    for stale in cache.glob(f"{name}-*.pdf"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return data

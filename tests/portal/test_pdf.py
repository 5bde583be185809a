"""Invoice and statement PDFs (WeasyPrint), their QR codes, the PDF cache, and the renderer's
refusal to fetch anything but the package's own files.

No QR decoder is among the project's dependencies, so the QR codes are read back module by
module from what was drawn (the SVG path, the PDF's vector strokes) and compared with the QR
symbols of the expected URL: any error level and mask an encoder may pick is accepted.
"""

from __future__ import annotations

import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import segno
import weasyprint
from pypdf import PdfReader
from pypdf.generic import ContentStream

from portal import pdf
from tests.conftest import path_of
from tests.portal.customer.test_customer_pages import pay

# --- helpers -------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    """All text of a PDF, as a copy-paste from it would give."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def get_pdf(client, url: str) -> bytes:
    """GET a PDF URL from an API response; assert it is a PDF download."""
    response = client.get(path_of(url))
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF-")
    return response.data


Modules = frozenset[tuple[int, int]]


def _normalised(dark: set[tuple[int, int]]) -> Modules:
    # Drop the quiet zone: the top-left finder pattern's corner is module (0, 0).
    top, left = min(r for r, _ in dark), min(c for _, c in dark)
    return frozenset((r - top, c - left) for r, c in dark)


def qr_from_svg(svg: str) -> Modules:
    """The dark modules of a segno-style SVG: one stroked ``h`` run per row of dark modules."""
    d = re.search(r'<path[^>]* d="([^"]+)"', svg).group(1)
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for cmd, args in re.findall(r"([MmHhVv])([^MmHhVv]*)", d):
        nums = [float(n) for n in args.split()] if args.strip() else []
        if cmd == "M":
            x, y = nums
        elif cmd == "m":
            x, y = x + nums[0], y + nums[1]
        elif cmd == "h":
            dark.update((int(y), int(x) + i) for i in range(int(nums[0])))
            x += nums[0]
        else:
            raise AssertionError(f"unexpected path command {cmd}")
    return _normalised(dark)


def qr_from_pdf(data: bytes) -> Modules:
    """The dark modules of the QR code drawn on the first page (black horizontal strokes)."""
    page = PdfReader(io.BytesIO(data)).pages[0]
    black, start = False, None
    dark: set[tuple[int, int]] = set()
    for operands, op in ContentStream(page.get_contents(), page.pdf).operations:
        if op == b"RG":
            black = [float(v) for v in operands] == [0.0, 0.0, 0.0]
        elif op == b"m":
            start = [float(v) for v in operands]
        elif op == b"l" and black and start:
            (x0, y0), (x1, y1) = start, [float(v) for v in operands]
            if y0 == y1 and y0 % 1 == 0.5 and x0 % 1 == 0 and x1 % 1 == 0:
                dark.update((int(y0), int(x0) + i) for i in range(int(x1 - x0)))
    assert dark, "no QR code drawn on the page"
    return _normalised(dark)


def symbols_of(url: str) -> set[Modules]:
    """Every QR symbol that encodes ``url`` (any error level, any mask)."""
    return {
        frozenset((r, c) for r, row in enumerate(qr.matrix) for c, v in enumerate(row) if v)
        for qr in (segno.make(url, error=e, mask=m, boost_error=False, micro=False)
                   for e in "lmqh" for m in range(8))
    }


@pytest.fixture
def listener():
    """A local HTTP server that records every request made to it: ``(base_url, paths)``."""
    paths: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"body { color: red }")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", paths
    server.shutdown()
    server.server_close()
    thread.join(5)


# --- what a PDF says -----------------------------------------------------------------------------


def test_the_invoice_pdf_carries_its_number_total_and_pay_link(api, client):
    inv = api.create()
    response = client.get(path_of(inv["pdf_url"]))
    assert response.headers["Content-Disposition"] == 'attachment; filename="invoice-INV-0001.pdf"'
    text = pdf_text(get_pdf(client, inv["pdf_url"]))
    for fact in ("Acme Supplies Ltd", "Invoice INV-0001", "Northwind Traders", "Widgets",
                 "Total $38.50", "Amount due $38.50", inv["pay_url"]):
        assert fact in text, fact


def test_the_invoice_pdf_prints_the_qr_code_of_its_pay_link(api, client):
    inv = api.create()
    other = api.create(external_id="ERP-2", number="INV-0002")
    drawn = qr_from_pdf(get_pdf(client, inv["pdf_url"]))
    assert drawn in symbols_of(inv["pay_url"])
    assert drawn not in symbols_of(other["pay_url"])


def test_the_qr_svg_encodes_the_pay_link(api, client):
    inv = api.create()
    response = client.get(path_of(inv["qr_svg_url"]))
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg") and "<script" not in svg
    assert qr_from_svg(svg) in symbols_of(inv["pay_url"])


def test_the_statement_pdf_lists_open_invoices_with_its_link_and_qr_code(api, client):
    api.create(external_id="A", number="A-1")
    b = api.create(external_id="B", number="B-1", currency="JPY")
    url = b["customer"]["statement_url"]
    response = client.get(path_of(url) + "/pdf")
    assert re.fullmatch(r'attachment; filename="statement-Northwind-Traders-[\d-]+\.pdf"',
                        response.headers["Content-Disposition"])
    data = get_pdf(client, url + "/pdf")
    text = pdf_text(data)
    for fact in ("Statement", "Northwind Traders", "A-1", "B-1", "$38.50", "¥3,850", url):
        assert fact in text, fact
    assert qr_from_pdf(data) in symbols_of(url)


def test_the_download_name_is_safe_whatever_the_invoice_number(api, client):
    inv = api.create(number='../"x";\tname=evil')
    disposition = client.get(path_of(inv["pdf_url"])).headers["Content-Disposition"]
    assert disposition == 'attachment; filename="invoice-..-x-name-evil.pdf"'


# --- the cache -----------------------------------------------------------------------------------


@pytest.fixture
def renders(monkeypatch) -> list[str]:
    """The HTML of every real WeasyPrint render (the renderer still runs)."""
    seen: list[str] = []
    real = pdf.render_pdf

    def counting(html: str) -> bytes:
        seen.append(html)
        return real(html)

    monkeypatch.setattr(pdf, "render_pdf", counting)
    return seen


def test_a_pdf_is_rendered_once_per_revision_then_served_from_the_cache(api, client, app,
                                                                        renders):
    inv = api.create()
    first = get_pdf(client, inv["pdf_url"])
    assert get_pdf(client, inv["pdf_url"]) == first
    assert len(renders) == 1
    changed = api.create(memo="Thank you for your business")
    assert changed["revision"] == inv["revision"] + 1
    second = get_pdf(client, changed["pdf_url"])
    assert len(renders) == 2 and second != first
    assert "Thank you for your business" in pdf_text(second)
    assert get_pdf(client, changed["pdf_url"]) == second and len(renders) == 2
    cached = list(Path(app.config["PORTAL_PDF_CACHE_DIR"]).glob("*.pdf"))
    assert len(cached) == 1  # the old revision's file is gone


def test_another_worker_serves_the_pdf_from_the_shared_cache(api, client, app_factory, renders):
    inv = api.create()
    first = get_pdf(client, inv["pdf_url"])
    other_worker = app_factory().test_client()  # same PORTAL_PDF_CACHE_DIR, own process state
    assert get_pdf(other_worker, inv["pdf_url"]) == first
    assert len(renders) == 1


def test_money_arriving_gives_a_new_pdf_that_shows_it(api, client, db, renders):
    inv = api.create()
    assert "Amount paid" not in pdf_text(get_pdf(client, inv["pdf_url"]))
    pay(db, inv["id"], 1000)
    text = pdf_text(get_pdf(client, inv["pdf_url"]))
    assert "Amount paid $10.00" in text and "Amount due $28.50" in text
    assert len(renders) == 2


def test_a_new_link_gives_a_pdf_with_the_new_link(api, client, renders):
    inv = api.create()
    get_pdf(client, inv["pdf_url"])
    new = api.post(f"/invoices/{inv['id']}/link").get_json()
    text = pdf_text(get_pdf(client, new["pdf_url"]))
    assert new["pay_url"] in text and inv["pay_url"] not in text
    assert len(renders) == 2


# --- nothing but bundled files -------------------------------------------------------------------

HOSTILE = ('<img src="file:///etc/passwd"><img src="{base}/img">'
           '<link rel="stylesheet" href="{base}/css"><style>@import url({base}/import);</style>')


def test_invoice_text_that_looks_like_html_is_printed_and_never_fetched(api, client, listener):
    base, paths = listener
    hostile = HOSTILE.format(base=base)
    inv = api.create(memo=hostile, customer={"external_id": "C", "name": "<script>x()</script>",
                                             "email": "ap@northwind.example"},
                     lines=[{"description": f'<img src="{base}/line">', "amount": 3500}])
    text = pdf_text(get_pdf(client, inv["pdf_url"]))
    assert "<script>x()</script>" in text and '<img src="file:///etc/passwd">' in text
    assert f'<img src="{base}/line">' in text
    assert "root:" not in text
    get_pdf(client, inv["customer"]["statement_url"] + "/pdf")
    assert paths == []


def test_the_renderer_fetches_nothing_even_from_raw_html(app, listener):
    # Defence in depth: should a template ever print ERP text unescaped, the fetcher still
    # refuses. WeasyPrint's own fetcher, given the same HTML, does reach the listener.
    base, paths = listener
    page = f"<p>x</p>{HOSTILE.format(base=base)}<img src='portal-static:/../../../etc/passwd'>"
    weasyprint.HTML(string=page).write_pdf()
    assert paths, "the listener sees fetches"
    paths.clear()
    with app.app_context():
        data = pdf.render_pdf(page)
    assert data.startswith(b"%PDF-") and paths == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://127.0.0.1:9/", "https://x.test/a",
                                 "portal-static:/../../pdf.py", "portal-static:/../__init__.py",
                                 "data:text/plain,hi", "portal-brand:other"])
def test_the_fetcher_refuses_anything_but_bundled_files(url):
    with pytest.raises(ValueError):
        pdf.StaticOnlyFetcher().fetch(url)


def test_the_fetcher_serves_the_bundled_stylesheet_and_the_configured_logo(tmp_path):
    logo = tmp_path / "brand.png"
    logo.write_bytes(b"\x89PNG not really")
    fetcher = pdf.StaticOnlyFetcher(str(logo))
    css = fetcher.fetch("portal-static:/pdf.css")
    assert css.read() == (pdf.STATIC_ROOT / "pdf.css").read_bytes()
    assert css.headers["Content-Type"] == "text/css"
    assert fetcher.fetch("portal-brand:logo").read() == logo.read_bytes()

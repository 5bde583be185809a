"""A customer on a phone (360 px wide, JavaScript off) reads an invoice and downloads its PDF."""

from pathlib import Path

from payments.staff import api_keys
from tests.factories import invoice_body


def _create(app, **overrides) -> dict:
    with app.extensions["portal.db"].transaction() as session:
        _key, plaintext = api_keys.create(session, "browser tests")
    response = app.test_client().post("/api/v1/invoices", json=invoice_body(**overrides),
                                      headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_phone_reads_invoice_and_downloads_pdf_without_javascript(browser, live_server, shot):
    _base, app = live_server
    inv = _create(app, lines=[{"description": "Consulting, a rather long description of the "
                                              "work done in October", "quantity": 12,
                               "unit_amount": 15000, "amount": 180000}],
                  tax_amount=0, total=180000)
    context = browser.new_context(viewport={"width": 360, "height": 740},
                                  java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    response = page.goto(inv["pay_url"])
    assert response.status == 200
    shot(page, "1-invoice-at-360px")

    text = page.inner_text("main")
    assert "Invoice INV-0001" in text and "$1,800.00" in text and "Open" in text
    # Nothing is wider than the phone: no sideways scrolling to read the invoice.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    with page.expect_download() as download:
        page.click("text=Download PDF")
    pdf = download.value
    assert pdf.suggested_filename == "invoice-INV-0001.pdf"
    assert Path(pdf.path()).read_bytes()[:5] == b"%PDF-"
    context.close()

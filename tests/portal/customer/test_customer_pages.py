"""The invoice page (``/i/<token>``) and the statement (``/s/<token>``) as a customer reads them.

Invoices come in through the API as an integrator pushes them; money arrives through the ledger
(the one writer of balances), never by writing balances behind its back.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from babel.dates import format_date

from payments.ledger import ledger
from payments.ledger.models import Payment
from payments.stripe.facts import PaymentFacts
from tests.conftest import Api, path_of, token_of
from tests.factories import lines_totalling

# --- helpers -------------------------------------------------------------------------------------


def text_of(page: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def visit(client, url: str) -> str:
    """GET a customer URL from an API response; assert 200 and return the visible text."""
    response = client.get(path_of(url))
    assert response.status_code == 200, response.status_code
    return text_of(response.get_data(as_text=True))


def badge(client, url: str) -> str:
    """The status badge of a customer page, as read."""
    page = client.get(path_of(url)).get_data(as_text=True)
    return text_of(re.search(r'<span class="badge[^"]*">.*?</span>', page).group(0))


def pay(db, invoice_id: int, amount: int, status: str = "succeeded", pi: str = "pi_1",
        currency: str = "USD") -> None:
    """Money arriving on the invoice the way Stripe's events bring it: through the ledger."""
    with db.transaction() as session:
        payment = Payment(payment_intent_id=pi, currency=currency, amount=amount,
                          status="pending")
        session.add(payment)
        session.flush()
        ledger.reconcile_payment(session, payment, [(invoice_id, amount)], PaymentFacts(status))


def due(days_ago: int) -> dict[str, str]:
    """Dates for an invoice whose due date was ``days_ago`` days ago (negative: in the future)."""
    due_date = datetime.now(UTC).date() - timedelta(days=days_ago)  # the pages' business date
    return {"issue_date": (due_date - timedelta(days=30)).isoformat(),
            "due_date": due_date.isoformat()}


def day(iso: str) -> str:
    """A date as the pages print it (Babel, medium, the default locale)."""
    return format_date(date.fromisoformat(iso), format="medium", locale="en_US")


# --- the invoice page ----------------------------------------------------------------------------


def test_the_invoice_page_shows_who_bills_what_when_and_how_much(api, client):
    inv = api.create()
    page = client.get(path_of(inv["pay_url"])).get_data(as_text=True)
    text = text_of(page)
    # The business, from configuration.
    assert "Acme Supplies Ltd 1 Market Street Springfield" in text
    assert '<img class="logo" src="/logo"' in page
    assert 'href="mailto:ar@acme.example"' in page
    # The invoice.
    assert "Invoice INV-0001" in text and "Billed to Northwind Traders" in text
    for fact in (f"Issue date {day(inv['issue_date'])}", f"Due date {day(inv['due_date'])}",
                 "Terms Net 30", "Widgets 3 $10.00 $30.00", "Delivery $5.00",
                 "Subtotal $35.00", "Tax $3.50", "Total $38.50", "Amount paid $0.00",
                 "Amount pending $0.00", "Amount due $38.50"):
        assert fact in text, fact
    assert badge(client, inv["pay_url"]) == "Open"
    pdf_link = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Download PDF</a>', page)
    assert pdf_link and pdf_link.group(1) == f"/i/{token_of(inv['pay_url'])}/pdf"


def test_the_logo_behind_the_page_is_served(client):
    with client.get("/logo") as response:
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"


def test_a_partial_payment_shows_what_was_paid_and_what_is_left(api, client, db):
    inv = api.create()
    pay(db, inv["id"], 1000)
    text = visit(client, inv["pay_url"])
    assert badge(client, inv["pay_url"]) == "Partially paid"
    assert "Amount paid $10.00" in text and "Amount due $28.50" in text


def test_a_bank_debit_still_clearing_is_pending_not_paid(api, client, db):
    inv = api.create()
    pay(db, inv["id"], 3850, status="pending")
    text = visit(client, inv["pay_url"])
    assert "Amount paid $0.00" in text and "Amount pending $38.50" in text
    assert "$38.50 is on its way" in text
    assert badge(client, inv["pay_url"]) == "Open"  # not "Partially paid", nor "Paid"


def test_a_paid_invoice_says_so(api, client, db):
    inv = api.create()
    pay(db, inv["id"], 3850)
    text = visit(client, inv["pay_url"])
    assert badge(client, inv["pay_url"]) == "Paid" and "Paid in full $38.50" in text
    assert "Amount paid $38.50" in text and "Amount due $0.00" in text


def test_a_void_invoice_says_nothing_is_owed(api, client):
    inv = api.create()
    api.post(f"/invoices/{inv['id']}/void")
    text = visit(client, inv["pay_url"])
    assert badge(client, inv["pay_url"]) == "Void"
    assert "This invoice was voided Nothing is owed on it." in text


def test_a_void_invoice_shows_no_amount_due(api, client):
    inv = api.create()
    api.post(f"/invoices/{inv['id']}/void")
    text = visit(client, inv["pay_url"])
    assert "Amount due $38.50" not in text
    assert api.get(f"/invoices/{inv['id']}").get_json()["amount_due"] == 0  # the API agrees


@pytest.mark.parametrize("days_ago,shown", [(10, "Overdue by 10 days"), (1, "Overdue by 1 day"),
                                            (0, "Open"), (-3, "Open")])
def test_an_unpaid_invoice_past_its_due_date_is_overdue_by_whole_days(api, client, days_ago,
                                                                       shown):
    assert badge(client, api.create(**due(days_ago))["pay_url"]) == shown


@pytest.mark.parametrize("currency,line,tax,total", [
    ("USD", "Widgets 3 $10.00 $30.00", "$3.50", "$38.50"),
    ("JPY", "Widgets 3 ¥1,000 ¥3,000", "¥350", "¥3,850"),
    ("BHD", "Widgets 3 BHD1.000 BHD3.000", "BHD0.350", "BHD3.850"),
])
def test_amounts_have_as_many_decimals_as_the_currency(api, client, currency, line, tax, total):
    text = visit(client, api.create(currency=currency)["pay_url"])
    assert line in text
    assert f"Tax {tax}" in text and f"Total {total}" in text and f"Amount due {total}" in text


def test_the_locale_setting_changes_how_money_and_dates_read(app_factory, api_key):
    client = app_factory(PORTAL_LOCALE="de_DE").test_client()
    inv = Api(client, api_key).create()
    text = visit(client, inv["pay_url"])
    assert "38,50 $" in text
    assert format_date(date.fromisoformat(inv["due_date"]), "medium", locale="de_DE") in text


def test_pages_need_no_javascript_and_scale_to_a_phone(api, client):
    inv = api.create()
    for url in (inv["pay_url"], inv["customer"]["statement_url"]):
        page = client.get(path_of(url)).get_data(as_text=True)
        assert "<script" not in page.lower()
        assert re.search(r"\son[a-z]+\s*=", page) is None  # nor inline event handlers
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


# --- the statement -------------------------------------------------------------------------------


def test_the_statement_lists_every_open_invoice_with_totals(api, client, db):
    a = api.create(external_id="A", number="A-1", **due(-5), **lines_totalling(1, 10000))
    b = api.create(external_id="B", number="B-1", **due(10), **lines_totalling(1, 5000))
    paid = api.create(external_id="C", number="C-1", **lines_totalling(1, 700))
    void = api.create(external_id="D", number="D-1", **lines_totalling(1, 900))
    pay(db, b["id"], 2000)
    pay(db, paid["id"], 700, pi="pi_2")
    api.post(f"/invoices/{void['id']}/void")
    text = visit(client, a["customer"]["statement_url"])
    assert "Statement For Northwind Traders" in text
    assert "Open balance (USD) $130.00" in text
    # Oldest due first, each with its status, total and what is due now.
    assert f"B-1 {day(b['due_date'])} Overdue by 10 days $50.00 $30.00" in text
    assert f"A-1 {day(a['due_date'])} Open $100.00 $100.00" in text
    assert text.index("B-1") < text.index("A-1")
    assert "C-1" not in text and "D-1" not in text


def test_the_statement_links_each_invoice_to_its_own_page(api, client):
    a = api.create(external_id="A", number="A-1")
    page = client.get(path_of(a["customer"]["statement_url"])).get_data(as_text=True)
    assert f'href="/i/{token_of(a["pay_url"])}">A-1</a>' in page
    assert "Invoice A-1" in visit(client, a["pay_url"])


def test_the_statement_ages_open_balances_by_days_past_due(api, client):
    for n, days_ago in enumerate((-3, 0, 1, 30, 31, 60, 61, 90, 91, 400)):
        created = api.create(external_id=f"E{n}", number=f"N{n}", **due(days_ago),
                             **lines_totalling(1, 100 * (n + 1)))
    page = client.get(path_of(created["customer"]["statement_url"])).get_data(as_text=True)
    aging = page.split('<table class="lines aging">')[1].split("</table>")[0]
    row = dict(re.findall(r'<td class="num" data-label="([^"]+)">([^<]+)</td>', aging))
    # $1 … $10 in the order above: due today is still current, day 30 is the last of 1-30.
    assert row == {"Current": "$3.00", "1-30 days": "$7.00", "31-60 days": "$11.00",
                   "61-90 days": "$15.00", "90+ days": "$19.00"}
    assert "Open balance (USD) $55.00" in text_of(page)


def test_the_statement_totals_each_currency_apart(api, client):
    api.create(external_id="U", number="U-1")
    yen = api.create(external_id="Y", number="Y-1", currency="JPY")
    text = visit(client, yen["customer"]["statement_url"])
    assert "Open balance (USD) $38.50" in text and "Open balance (JPY) ¥3,850" in text
    assert "USD $38.50 $0.00" in text and "JPY ¥3,850 ¥0" in text  # the two aging rows


def test_a_statement_with_nothing_open_says_thank_you(api, client, db):
    inv = api.create()
    pay(db, inv["id"], 3850)
    text = visit(client, inv["customer"]["statement_url"])
    assert "You have no open invoices. Thank you!" in text and "INV-0001" not in text

"""The dashboard on the hand-checked book of tests/payments/console/test_kpis.py (as of
2024-08-01): every figure on the page is the one payments.console.kpis computes and the one
worked out by hand there; the aging charts are well-formed SVG with one bar per bucket;
currencies stay apart; definitions are shown; text in the charts is escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from payments.console import kpis
from payments.ledger.models import Payment
from payments.money import format_money
from portal.staff import charts, dashboard
from tests.payments.console.test_kpis import AS_OF, book  # noqa: F401  (the hand-checked book fixture)
from tests.staff_helpers import logged_in, make_staff

pytestmark = pytest.mark.usefixtures("cheap_hashing")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def page(app, db, monkeypatch):
    """A function returning the dashboard's HTML as a viewer sees it on 2024-08-01."""
    monkeypatch.setattr(dashboard, "today", lambda: AS_OF)
    make_staff(db, "viewer@acme.example", "viewer")
    viewer = logged_in(app, "viewer@acme.example")

    def get() -> str:
        response = viewer.get("/staff/")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return get


def _rows(body: str, kind: str) -> dict[str, list[str]]:
    """``{currency: [cell text, ...]}`` of the table rows of class ``kind``."""
    rows = re.findall(rf'<tr class="{kind}"><th scope="row">(\w+)</th>(.*?)</tr>', body, re.S)
    return {code: [re.sub(r"<[^>]+>", "", c).strip()
                   for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
            for code, cells in rows}


def _charts(body: str) -> dict[str, ET.Element]:
    """The aging charts by currency, parsed as XML (so they must be well-formed)."""
    found = re.findall(r"<figcaption>(\w+)</figcaption>(<svg.*?</svg>)", body, re.S)
    return {code: ET.fromstring(svg) for code, svg in found}


def test_ratios_collections_and_pending_match_the_book(page, db, book):  # noqa: F811
    body = page()
    # Hand-checked in tests/payments/console/test_kpis.py: test_dso, test_cei,
    # test_collected_this_week_and_month
    assert _rows(body, "dso") == {"EUR": ["€420.00", "€520.00", "90", "72.7 days"],
                                  "USD": ["$430.00", "$660.00", "90", "58.6 days"]}
    assert _rows(body, "cei") == {
        "EUR": ["€120.00", "€400.00", "€420.00", "€0.00", "19.2 %"],
        "USD": ["$420.00", "$380.00", "$430.00", "$130.00", "55.2 %"]}
    assert _rows(body, "collected") == {"EUR": ["€100.00", "€100.00", "€0.00", "€0.00"],
                                        "USD": ["$340.00", "$280.00", "$40.00", "$40.00"]}
    assert _rows(body, "pending") == {"USD": ["1", "$70.00"]}
    # And they are what payments.console.kpis says (the page computes nothing of its own).
    with db.reader() as session:
        dso, cei = kpis.dso(session, AS_OF), kpis.cei(session, AS_OF)
    for code in ("EUR", "USD"):
        assert _rows(body, "dso")[code] == [
            format_money(dso[code].receivables, code), format_money(dso[code].credit_sales, code),
            str(dso[code].period_days), f"{dso[code].days} days"]
        assert _rows(body, "cei")[code][-1] == f"{cei[code].percent} %"
    assert "90 days, May 4, 2024 – Aug 1, 2024" in body  # DSO's period
    assert "30 days, Jul 3, 2024 – Aug 1, 2024" in body  # CEI's (beginning: end of 07-02)
    assert "Week from Jul 29, 2024, month from Aug 1, 2024" in body


def test_queue_counts_link_to_the_queues(page, book):  # noqa: F811
    body = page()
    # 4 unconfirmed (pi_c, pi_i, pi_f, pi_g), 1 open exception, 1 failed event.
    assert re.search(r'<a class="tile" href="/staff/payments/confirm"><span class="figure">4</span>'
                     r"\s*payments to confirm</a>", body)
    assert re.search(r'<a class="tile" href="/staff/exceptions"><span class="figure">1</span>'
                     r"\s*exception to resolve</a>", body)
    assert '<li><a href="/staff/exceptions?kind=unmatched_payment">1 unmatched payment</a></li>' \
        in body
    assert "1 Stripe event(s) failed to apply" in body
    # The queues are worked on their own pages: no confirm or resolve form here any more.
    assert "<form" not in body.split("<main>")[1]


def test_the_aging_table_and_charts_per_currency(page, book):  # noqa: F811
    body = page()
    usd = re.search(r'<th scope="row">USD</th>(.*?)</tr>', body, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)', usd)
    assert cells == ["5", "$430.00", "$300.00 ", "$130.00", "$0.00", "$150.00", "$50.00",
                     "$100.00", "$70.00"]
    found = _charts(body)
    assert list(found) == ["EUR", "USD"]  # one chart per currency, never a combined one
    assert "$850.00" not in body and "€850.00" not in body  # 430 + 420: never summed
    # USD buckets 13000, 0, 15000, 5000, 10000: the largest is 160 px, the others in
    # proportion, rounded half up (138.67 → 139, 53.33 → 53, 106.67 → 107).
    assert _bars(found["USD"]) == [
        ("Current", "$130.00", 139), ("1–30 days", "$0.00", 0), ("31–60 days", "$150.00", 160),
        ("61–90 days", "$50.00", 53), ("90+ days", "$100.00", 107)]
    assert _bars(found["EUR"]) == [
        ("Current", "€0.00", 0), ("1–30 days", "€300.00", 160), ("31–60 days", "€120.00", 64),
        ("61–90 days", "€0.00", 0), ("90+ days", "€0.00", 0)]
    usd_svg = found["USD"]
    assert usd_svg.get("role") == "img"
    assert usd_svg.get("aria-labelledby") == "aging-USD-title aging-USD-desc"
    assert usd_svg.find(f"{SVG}title").text == "Aging of receivables, USD"
    assert usd_svg.find(f"{SVG}desc").text == (
        "Open receivables in USD by days past due, $430.00 in 5 invoices: Current $130.00 "
        "(2 invoices); 1–30 days $0.00 (0 invoices); 31–60 days $150.00 (1 invoice); "
        "61–90 days $50.00 (1 invoice); 90+ days $100.00 (1 invoice).")


def _bars(svg: ET.Element) -> list[tuple[str, str, int]]:
    """(label, amount text, height) of each bar; checks the bar stands on the baseline."""
    out = []
    for group in svg.findall(f"{SVG}g"):
        rect = group.find(f"{SVG}rect")
        height = int(rect.get("height"))
        assert int(rect.get("y")) + height == charts.BASELINE
        texts = {t.get("class"): t.text for t in group.findall(f"{SVG}text")}
        assert group.find(f"{SVG}title").text.startswith(f"{texts['label']}: {texts['amount']}")
        out.append((texts["label"], texts["amount"], height))
    return out


def test_every_kpi_states_its_definition(page, book):  # noqa: F811
    body = page()
    for text in (kpis.AGING_DEFINITION, kpis.DSO_FORMULA, kpis.CEI_FORMULA,
                 kpis.COLLECTED_DEFINITION, dashboard.QUEUES_DEFINITION):
        assert text in body, text
    assert "Stripe&#39;s “processing”" in body  # the pending ACH definition, escaped


def test_the_page_carries_no_inline_style_or_script(page, book):  # noqa: F811
    body = page()
    # The CSP allows stylesheets from the site only: an inline style would be dropped.
    assert "style=" not in body and "<script" not in body and "<style" not in body


def test_an_empty_book(page):
    body = page()
    assert "No open invoices." in body and "<svg" not in body
    assert "Nothing collected this week or month." in body
    assert "No ACH debit is clearing." in body
    assert re.search(r'<span class="figure">0</span>\s*payments to confirm', body)


def test_book_wide_figures_are_kept_a_minute_and_queues_stay_live(page, api, db, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(dashboard, "clock", lambda: now[0])
    assert "No open invoices." in page()
    api.create(issue_date="2024-07-20", due_date="2024-08-19")  # $38.50, current on 08-01
    with db.transaction() as session:
        session.add(Payment(payment_intent_id="pi_new", currency="USD", amount=100,
                            status="succeeded"))
    body = page()
    assert "No open invoices." in body  # the aging is a minute old at most...
    assert re.search(r'<span class="figure">1</span>\s*payment to confirm', body)  # ...not this
    now[0] += dashboard.CACHE_SECONDS
    assert _charts(page())["USD"].find(f"{SVG}desc").text.startswith(
        "Open receivables in USD by days past due, $38.50 in 1 invoice")


def test_a_new_day_is_computed_at_once(app, db, api, monkeypatch):
    monkeypatch.setattr(dashboard, "clock", lambda: 0.0)
    cache = dashboard.FigureCache()
    api.create(issue_date="2024-07-01", due_date="2024-07-31")
    with app.app_context(), db.reader() as session:
        first = dashboard.build(session, AS_OF, "en_US", cache)
        assert dashboard.build(session, AS_OF, "en_US", cache).aging is first.aging
        later = dashboard.build(session, date(2024, 9, 15), "en_US", cache)
    assert first.aging["USD"].buckets[1].amount == 3850  # 1 day past due on 08-01
    assert later.aging["USD"].buckets[2].amount == 3850  # 46 days on 09-15


@pytest.mark.parametrize("amounts, heights", [
    ([0, 0, 0], [0, 0, 0]),
    ([1, 1_000_000], [1, 160]),  # a tiny positive amount still shows
    ([3, 6], [80, 160]),
    ([1, 2 * 160], [1, 160]),  # 0.5 px rounds half up to 1
    ([3, 2 * 160], [2, 160]),  # 1.5 px → 2
    ([-500, 100], [0, 160]),  # nothing negative is drawn
    ([10**15, 10**15 - 1], [160, 160]),  # integer arithmetic at the largest amounts
])
def test_bar_heights(amounts, heights):
    assert charts.bar_heights(amounts) == heights


def test_chart_text_is_escaped():
    evil = '<script>alert("x")</script>&"\''
    svg = charts.bar_chart('a"b<c', evil, evil, [charts.Bar(evil, 5, evil, evil)])
    assert "<script" not in svg and 'id="a&#34;b&lt;c-title"' in svg
    root = ET.fromstring(str(svg))  # still well-formed: every piece was escaped
    assert root.find(f"{SVG}title").text == evil and root.find(f"{SVG}desc").text == evil
    group = root.find(f"{SVG}g")
    assert group.find(f"{SVG}title").text == f"{evil}: {evil} ({evil})"
    assert [t.text for t in group.findall(f"{SVG}text")] == [evil, evil]


def test_aging_chart_of_a_zero_decimal_currency():
    aging = kpis.Aging("JPY", tuple(kpis.Bucket(label, amount, 1 if amount else 0) for
                                    label, amount in zip(kpis.BUCKETS, (5000, 0, 0, 0, 250),
                                                         strict=True)))
    svg = ET.fromstring(str(charts.aging_chart(aging, lambda a: f"¥{a:,}")))
    heights = [int(g.find(f"{SVG}rect").get("height")) for g in svg.findall(f"{SVG}g")]
    assert heights == [160, 0, 0, 0, 8]
    assert "¥5,250 in 2 invoices" in svg.find(f"{SVG}desc").text


def test_the_dashboard_day_is_utc():
    assert isinstance(dashboard.today(), date)

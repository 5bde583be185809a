"""What a security reviewer checks on the token pages: response headers (and the hardening
headers on every other response too), one indistinguishable 404 for every bad token, escaping
of ERP text, and the budget of bad-token lookups."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from payments.checkout.models import PaymentAttempt
from tests.conftest import Api, path_of, token_of
from tests.portal.customer.test_customer_pages import text_of
from tests.portal.customer.test_renew import expire

UNKNOWN = "A" * 43  # well formed, never issued
SCRIPT = '<script>alert("x")</script>'


def altered(token: str) -> str:
    """The token with one character in the middle changed."""
    i = len(token) // 2
    return token[:i] + ("B" if token[i] != "B" else "C") + token[i + 1:]


def csp_of(response) -> dict[str, list[str]]:
    """The Content-Security-Policy as ``{directive: [sources]}``."""
    policy = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in policy.split(";"))}


def token_responses(api, client, db) -> dict[str, object]:
    """One response of every kind a token URL can give: pages, files, 404, 410, 429."""
    inv = api.create()
    old = api.create(external_id="ERP-2", number="INV-0002")
    expire(db, old["pay_url"])
    pay, statement = path_of(inv["pay_url"]), path_of(inv["customer"]["statement_url"])
    out = {name: client.get(path) for name, path in {
        "invoice": pay, "pdf": pay + "/pdf", "qr": pay + "/qr.svg", "statement": statement,
        "statement pdf": statement + "/pdf", "404": f"/i/{UNKNOWN}",
        "return": pay + "/return", "410": path_of(old["pay_url"])}.items()}
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', out["410"].get_data(as_text=True))
    out["renewed"] = client.post(path_of(old["pay_url"]) + "/renew",
                                 data={"csrf_token": csrf.group(1)})
    return out


# --- headers -------------------------------------------------------------------------------------


def every_other_response(app, api, client) -> dict[str, object]:
    """A response of every other kind: API answers and errors, the webhook's, the console's,
    static files, and the app's own 404, 405, 413 and 500."""

    @app.get("/boom")
    def boom():  # an unhandled error: the 500 page must be hardened too
        raise RuntimeError("boom")

    inv = api.create()
    with client.get("/static/portal.css") as static:
        pass
    return {
        "api": api.get(f"/invoices/{inv['id']}"), "api 401": client.get("/api/v1/invoices"),
        "openapi": client.get("/api/v1/openapi.json"),
        "webhook 400": client.post("/stripe/webhook", data=b"{}"),
        "webhook 413": client.post("/stripe/webhook", data=b"x" * (2 * 1024 * 1024)),
        "login": client.get("/staff/login"), "console redirect": client.get("/staff/"),
        "static": static, "404": client.get("/no/such/page"),
        "405": client.delete("/staff/login"), "500": client.get("/boom"),
    }


def test_every_token_response_is_private_unframed_and_unsniffed(api, client, db):
    for name, response in token_responses(api, client, db).items():
        headers = response.headers
        assert response.status_code in (200, 404, 410), name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["Cache-Control"] == "no-store", name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        csp = csp_of(response)
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], name
        assert csp["frame-ancestors"] == ["'none'"], name
        assert "Set-Cookie" not in headers or "Secure" in headers["Set-Cookie"], name


def test_every_other_response_is_unframed_and_unsniffed(app_factory, api_key):
    app = app_factory(PROPAGATE_EXCEPTIONS=False, STRIPE_WEBHOOK_SECRET="whsec_headers")
    client = app.test_client()
    responses = every_other_response(app, Api(client, api_key), client)
    for name, response in responses.items():
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert csp_of(response)["frame-ancestors"] == ["'none'"], name
    assert responses["500"].status_code == 500 and "boom" not in responses["500"].get_data(True)
    assert responses["webhook 413"].status_code == 413


@pytest.mark.parametrize("stripe", [False, True], ids=["payments off", "payments on"])
def test_the_csp_allows_no_third_party_source(app_factory, api_key, stripe):
    extra = {"STRIPE_SECRET_KEY": "sk_test_unused"} if stripe else {}
    client = app_factory(**extra).test_client()
    page = client.get(path_of(Api(client, api_key).create()["pay_url"]))
    assert ("Pay $38.50" in page.get_data(as_text=True)) == stripe
    csp = csp_of(page)
    for directive, sources in csp.items():
        allowed = {"'self'", "'none'"} | ({"data:"} if directive == "img-src" else set())
        if directive == "form-action" and stripe:
            allowed.add("https://checkout.stripe.com")  # the pay form's redirect to Checkout
        assert set(sources) <= allowed, (directive, sources)
    assert {"default-src", "script-src", "style-src", "img-src"} <= set(csp)


def test_hsts_only_over_https(api, client):
    path = path_of(api.create()["pay_url"])
    assert "Strict-Transport-Security" not in client.get(path).headers
    secure = client.get(path, base_url="https://portal.test")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # A client claiming HTTPS is not believed unless a proxy is configured in front.
    spoofed = client.get(path, headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_hsts_behind_a_tls_terminating_proxy(app_factory, api_key):
    client = app_factory(PORTAL_PROXY_COUNT=1).test_client()
    path = path_of(Api(client, api_key).create()["pay_url"])
    proxied = client.get(path, headers={"X-Forwarded-Proto": "https",
                                        "X-Forwarded-For": "198.51.100.7"})
    assert "Strict-Transport-Security" in proxied.headers
    plain = client.get(path, headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


# --- one 404 for every bad token -----------------------------------------------------------------


def test_a_link_opens_only_its_own_scope(api, client):
    # An invoice's token is no statement token and the other way round, whatever the path.
    inv = api.create()
    pay, statement = token_of(inv["pay_url"]), token_of(inv["customer"]["statement_url"])
    for path in (f"/s/{pay}", f"/s/{pay}/pdf", f"/i/{statement}", f"/i/{statement}/pdf",
                 f"/i/{statement}/qr.svg", f"/i/{statement}/return"):
        assert client.get(path).status_code == 404, path


def test_a_statement_pays_only_its_own_customers_invoices(app_factory, api_key, db):
    client = app_factory(STRIPE_SECRET_KEY="sk_test_unused").test_client()
    api = Api(client, api_key)
    mine = api.create()
    theirs = api.create(external_id="ERP-2", number="INV-0002",
                        customer={"external_id": "CUST-2", "name": "Other Ltd"})
    statement = path_of(mine["customer"]["statement_url"])
    page = client.get(statement).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    # Another customer's invoice id, slipped into the form: not on this statement, not paid.
    response = client.post(statement + "/pay", data={"csrf_token": csrf,
                                                     "invoice": str(theirs["id"])})
    assert response.status_code == 422
    assert "Choose at least one invoice" in response.get_data(as_text=True)
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(PaymentAttempt)) == 0


def test_unknown_altered_malformed_and_revoked_tokens_get_one_identical_404(api, client):
    inv = api.create()
    token, statement = token_of(inv["pay_url"]), token_of(inv["customer"]["statement_url"])
    rotated = api.post(f"/invoices/{inv['id']}/link").get_json()
    paths = [f"/i/{UNKNOWN}", f"/i/{altered(token_of(rotated['pay_url']))}", "/i/short",
             f"/i/{token}", f"/i/{token}/pdf", f"/i/{token}/qr.svg", f"/i/{UNKNOWN}/pdf",
             f"/s/{UNKNOWN}", f"/s/{altered(statement)}", f"/s/{token}", f"/i/{statement}",
             f"/s/{altered(statement)}/pdf", f"/i/{token}%00"]
    responses = [client.get(path) for path in paths]
    first = responses[0]
    assert first.status_code == 404 and "This link is not valid" in first.get_data(as_text=True)
    for path, response in zip(paths, responses, strict=True):
        assert response.status_code == 404, path
        assert response.get_data() == first.get_data(), path
        assert dict(response.headers) == dict(first.headers), path
    # Last: the page's forms start a session (CSRF), whose cookie the next response renews.
    assert client.get(path_of(rotated["pay_url"])).status_code == 200


def test_a_bad_token_renewal_gets_the_same_404(api, client, db):
    inv = api.create()
    expire(db, inv["pay_url"])
    page = client.get(path_of(inv["pay_url"])).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    unknown = client.post(f"/i/{UNKNOWN}/renew", data={"csrf_token": csrf})
    assert unknown.status_code == 404
    assert unknown.get_data() == client.get(f"/i/{UNKNOWN}").get_data()


# --- ERP text is text ----------------------------------------------------------------------------


def test_erp_text_is_escaped_on_the_invoice_and_statement_pages(api, client):
    inv = api.create(number='<b id="n">N</b>', memo=SCRIPT, terms="<img src=x onerror=alert(1)>",
                     customer={"external_id": "C", "name": SCRIPT, "email": "ap@x.example"},
                     lines=[{"description": SCRIPT, "amount": 3500}])
    for url in (inv["pay_url"], inv["customer"]["statement_url"]):
        page = client.get(path_of(url)).get_data(as_text=True)
        assert "<script" not in page and "<img src=x" not in page and "<b id" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        assert SCRIPT in text_of(page) and '<b id="n">N</b>' in text_of(page)


# --- the bad-lookup budget -----------------------------------------------------------------------


def test_what_a_customer_types_is_escaped_when_shown_back(app_factory, api_key):
    client = app_factory(STRIPE_SECRET_KEY="sk_test_unused").test_client()
    pay = path_of(Api(client, api_key).create(allow_partial=True)["pay_url"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get(pay).get_data(True))
    typed = '"><script>alert(1)</script>'
    response = client.post(pay + "/pay", data={"csrf_token": csrf.group(1), "choice": "other",
                                               "amount": typed})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


@pytest.mark.parametrize("path", [f"/s/{UNKNOWN}", f"/i/{UNKNOWN}/pdf", f"/s/{UNKNOWN}/pdf",
                                  f"/i/{UNKNOWN}/qr.svg", "/i/not-even-a-token"])
def test_bad_lookups_from_one_address_get_429_after_the_budget(app_factory, path):
    client = app_factory(PORTAL_TOKEN_RATE_LIMIT="3 per hour").test_client()
    assert [client.get(path).status_code for _ in range(4)] == [404, 404, 404, 429]
    limited = client.get(path)
    assert limited.headers["Cache-Control"] == "no-store"
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert client.get(path, environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 404


def test_bad_lookups_share_one_budget_across_the_token_urls(app_factory):
    client = app_factory(PORTAL_TOKEN_RATE_LIMIT="3 per hour").test_client()
    # A guesser rotating between the token URLs gets no more tries than on one of them.
    paths = [f"/i/{UNKNOWN}", f"/i/{UNKNOWN}/pdf", f"/s/{UNKNOWN}", f"/i/{UNKNOWN}/qr.svg",
             f"/s/{UNKNOWN}/pdf"]
    assert [client.get(path).status_code for path in paths] == [404, 404, 404, 429, 429]

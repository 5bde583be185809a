"""``portal demo``: a SQLite database with sample invoices, the links to open, and the server.

Seeding goes through the same create-or-update path as the API, so running the demo twice
leaves one copy of everything.
"""

from __future__ import annotations

import os
import secrets
import threading
from datetime import UTC, datetime, timedelta

import click
from flask import Flask, current_app
from sqlalchemy import update
from werkzeug.serving import make_server, run_simple

from payments import audit, links
from payments import staff as accounts
from payments.invoices import upsert_invoice
from payments.migrate import upgrade
from payments.models import Customer, Invoice
from payments.payment_models import PaymentAttempt
from payments.sandbox import create_app as sandbox_app
from payments.sandbox.app import DEFAULT_PORT as SANDBOX_PORT
from payments.schemas import InvoiceIn
from portal import create_app, database, urls

BUSINESS = {
    "PORTAL_BUSINESS_NAME": "Acme Supplies Ltd",
    "PORTAL_BUSINESS_ADDRESS": "1 Market Street\nSpringfield, IL 62701",
    "PORTAL_SUPPORT_EMAIL": "ar@acme.example",
}


def _invoice(ext: str, number: str, customer: tuple[str, str, str], currency: str,
             issued: int, due: int, lines: list[tuple[str, int, int]], tax: int = 0,
             **extra) -> InvoiceIn:
    today = datetime.now(UTC).date()
    body_lines = [{"description": d, "quantity": q, "unit_amount": u, "amount": q * u}
                  for d, q, u in lines]
    return InvoiceIn.model_validate({
        "external_id": ext, "number": number, "currency": currency,
        "issue_date": today + timedelta(days=issued), "due_date": today + timedelta(days=due),
        "customer": {"external_id": customer[0], "name": customer[1], "email": customer[2]},
        "lines": body_lines, "tax_amount": tax,
        "total": sum(q * u for _, q, u in lines) + tax, "terms": "Net 30", **extra,
    }, strict=False)


def sample_invoices() -> list[tuple[str, InvoiceIn]]:
    """The demo's invoices, each with the sentence the demo prints next to its link."""
    northwind = ("C-100", "Northwind Traders", "ap@northwind.example")
    globex = ("C-200", "Globex Corporation", "payables@globex.example")
    initech = ("C-300", "Initech LLC", "billing@initech.example")
    umbrella = ("C-400", "Umbrella Health", "accounts@umbrella.example")
    tanaka = ("C-500", "Tanaka Shoji K.K.", "keiri@tanaka.example")
    return [
        ("A plain invoice", _invoice("DEMO-1001", "INV-1001", northwind, "USD", -2, 28, [
            ("Widgets, blue", 40, 1250), ("Delivery", 1, 4500)], tax=4360)),
        ("Partial payments allowed (minimum $50.00)", _invoice(
            "DEMO-1002", "INV-1002", globex, "USD", -5, 25,
            [("Consulting, October", 32, 15000)], allow_partial=True, min_partial_amount=5000)),
        ("An overdue invoice", _invoice("DEMO-0987", "INV-0987", initech, "USD", -50, -20, [
            ("TPS report covers", 500, 120), ("Stapler, red", 1, 2399)])),
        ("Umbrella #1 of 3", _invoice("DEMO-1010", "INV-1010", umbrella, "USD", -70, -40, [
            ("Gloves, nitrile (box)", 120, 899)])),
        ("Umbrella #2 of 3", _invoice("DEMO-1011", "INV-1011", umbrella, "USD", -35, -5, [
            ("Masks, N95 (box)", 60, 2450)])),
        ("Umbrella #3 of 3", _invoice("DEMO-1012", "INV-1012", umbrella, "USD", -3, 27, [
            ("Hand sanitiser, 5 L", 24, 3100)], tax=5952)),
        ("A zero-decimal currency (JPY)", _invoice("DEMO-2001", "INV-2001", tanaka, "JPY", -1, 29, [
            ("Precision bearings", 200, 850), ("Handling", 1, 3000)], tax=17300)),
    ]


def seed(app: Flask) -> list[tuple[str, str]]:
    """Create or refresh the sample invoices; returns ``(label, url)`` pairs to print."""
    policy = app.extensions["portal.links"]
    out = []
    with app.app_context(), database.db().transaction() as session:
        for label, payload in sample_invoices():
            invoice = upsert_invoice(session, payload, policy).invoice
            out.append((f"{label} ({payload.number})", _live_url(session, invoice)))
        umbrella = session.query(Customer).filter_by(external_id="C-400").one()
        link = links.active(session, customer_id=umbrella.id)
        out.append(("Statement: Umbrella Health, three open invoices",
                    urls.statement_url(policy.key.token(link.nonce))))
    return out


def _live_url(session, invoice: Invoice) -> str:
    policy = current_app.extensions["portal.links"]
    link = links.active(session, invoice_id=invoice.id)
    if link is None or links.is_expired(link):
        link, token = links.issue(session, policy.key, invoice_id=invoice.id, ttl=policy.ttl)
    return urls.pay_url(policy.key.token(link.nonce))


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--sandbox-port", default=SANDBOX_PORT, show_default=True, type=int)
@click.option("--seed-only", is_flag=True, help="Seed and print the links, then exit.")
def demo(host: str, port: int, sandbox_port: int, seed_only: bool) -> None:
    """Run AR Portal and the offline Stripe sandbox with sample data; print the links."""
    instance = os.environ.get("PORTAL_INSTANCE_PATH")
    portal_url, sandbox_url = f"http://{host}:{port}", f"http://{host}:{sandbox_port}"
    secret = "whsec_demo_" + secrets.token_urlsafe(24)
    app = create_app({"PORTAL_DEMO": True, "PORTAL_BASE_URL": portal_url, **BUSINESS,
                      "STRIPE_SECRET_KEY": "sk_test_demo", "STRIPE_API_BASE": sandbox_url,
                      "STRIPE_WEBHOOK_SECRET": secret, "PORTAL_BANK_TRANSFERS": True,
                      **({} if os.environ.get("PORTAL_DATABASE_URL") else
                         {"PORTAL_DATABASE_URL": _demo_db(instance)})})
    upgrade(app.extensions["portal.db"].engine)
    links_to_print = seed(app)
    staff_password = seed_staff(app)
    _forget_old_sessions(app)
    click.secho("\nAR Portal demo", bold=True)
    click.echo(f"Portal:         {portal_url}/   (customer pages below; no login needed)")
    click.echo(f"Stripe sandbox: {sandbox_url}   (offline; pay with card 4242 4242 4242 4242, "
               "or bank account 000123456789 / routing 110000000)\n")
    for label, url in links_to_print:
        click.echo(f"  {label}\n    {url}")
    click.echo(f"\nStaff console:  {portal_url}/staff/\n  sign in as {DEMO_STAFF} with the "
               f"password {staff_password}   (admin; a new password each run)")
    click.echo(f"\nSettle a pending ACH debit: curl -X POST {sandbox_url}/_sandbox/payment_intents/"
               "<pi_…>/settle\nEmails (fresh links) land in instance/outbox/. Ctrl-C stops.\n")
    if seed_only:
        return
    sandbox = sandbox_app({"SANDBOX_WEBHOOKS": [{"url": f"{portal_url}/stripe/webhook",
                                                 "secret": secret}]})
    threading.Thread(target=make_server(host, sandbox_port, sandbox, threaded=True).serve_forever,
                     daemon=True).start()
    # Not app.run(): Flask ignores it inside a CLI command.
    run_simple(host, port, app, threaded=True)


DEMO_STAFF = "demo@example.com"


def seed_staff(app: Flask) -> str:
    """Create the demo's admin (once) and give it a fresh random password, which is returned.

    A new password each run rather than a fixed one: ``--host 0.0.0.0`` would otherwise put a
    console with a published admin password on the network.
    """
    password = secrets.token_urlsafe(12)
    hashed = accounts.hash_password(password)
    actor = audit.Actor(None, "demo")
    with app.app_context(), database.db().transaction() as session:
        user = accounts.by_email(session, DEMO_STAFF)
        if user is None:
            accounts.add(session, actor, DEMO_STAFF, "admin", password, password_hash=hashed)
        else:
            accounts.set_password(session, actor, user.id, password, password_hash=hashed)
            if not user.active:
                accounts.activate(session, actor, user.id)
    return password


def _forget_old_sessions(app: Flask) -> None:
    # The sandbox starts empty each time: sessions opened in an earlier run no longer exist.
    with app.app_context(), database.db().transaction() as session:
        session.execute(update(PaymentAttempt).where(PaymentAttempt.status == "open")
                        .values(status="expired"))


def _demo_db(instance: str | None) -> str:
    from portal import _instance_path

    return f"sqlite:///{os.path.join(instance or _instance_path(), 'demo.db')}"

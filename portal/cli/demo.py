"""``portal demo``: a SQLite database with sample invoices, the links to open, and the server.

Seeding goes through the same create-or-update path as the API, so running the demo twice
leaves one copy of everything. The staff console's state (payments to confirm, exceptions, KPIs)
is made by paying through the real pipeline once both servers listen
(:mod:`portal.cli.demo_console`).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from contextlib import contextmanager

import click
from flask import Flask, current_app
from sqlalchemy import update
from werkzeug.serving import make_server

from payments.checkout.models import PaymentAttempt
from payments.invoicing.models import Customer, Invoice
from payments.invoicing.upsert import upsert_invoice
from payments.links import tokens
from payments.migrate import upgrade
from payments.staff import accounts, audit
from payments.stripe.errors import StripeError
from portal import create_app, database, reminders, tasks, urls
from portal.cli import demo_console, demo_disputes
from portal.cli.demo_data import sample_invoices
from stripe_sandbox import create_app as sandbox_app
from stripe_sandbox.app import DEFAULT_PORT as SANDBOX_PORT

BUSINESS = {
    "PORTAL_BUSINESS_NAME": "Acme Supplies Ltd",
    "PORTAL_BUSINESS_ADDRESS": "1 Market Street\nSpringfield, IL 62701",
    "PORTAL_SUPPORT_EMAIL": "ar@acme.example",
}


def seed(app: Flask) -> list[tuple[str, str]]:
    """Create or refresh the sample invoices; returns ``(label, url)`` pairs to print."""
    policy = app.extensions["portal.links"]
    out = []
    with app.app_context(), database.db().transaction() as session:
        for label, payload in sample_invoices():
            invoice = upsert_invoice(session, payload, policy).invoice
            out.append((f"{label} ({payload.number})", _live_url(session, invoice)))
        umbrella = session.query(Customer).filter_by(external_id="C-400").one()
        link = tokens.active(session, customer_id=umbrella.id)
        out.append(("Statement: Umbrella Health, three open invoices",
                    urls.statement_url(policy.key.token(link.nonce))))
    return out


def _live_url(session, invoice: Invoice) -> str:
    policy = current_app.extensions["portal.links"]
    link = tokens.active(session, invoice_id=invoice.id)
    if link is None or tokens.is_expired(link):
        link, token = tokens.issue(session, policy.key, invoice_id=invoice.id, ttl=policy.ttl)
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
    sandbox = sandbox_app({"SANDBOX_WEBHOOKS": [{"url": f"{portal_url}/stripe/webhook",
                                                 "secret": secret}]})
    servers = [make_server(host, port, app, threaded=True),
               make_server(host, sandbox_port, sandbox, threaded=True)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    background = tasks.start_embedded(app)  # the ticks (the Stripe sync) run in the demo too
    with _quiet("werkzeug"):  # the seeding's hundred requests would bury the links
        try:
            console = demo_console.seed_console(app, sandbox, sandbox_url)
            console.ran += filter(None, [demo_disputes.seed_dispute(app)])
        except (RuntimeError, StripeError) as exc:
            # The customer pages work without it: say what is missing and keep serving.
            click.secho(f"The staff console's sample payments were not all made: {exc}",
                        fg="yellow", err=True)
            console = demo_console.Seeded()
    _print(links_to_print, portal_url, sandbox_url, staff_password, console)
    click.echo(_collections(app))
    if not seed_only:
        _serve_until_interrupted()
    background.stop(graceful=True)
    for server in servers:
        server.shutdown()


def _print(links_to_print: list[tuple[str, str]], portal_url: str, sandbox_url: str,
           staff_password: str, console: demo_console.Seeded) -> None:
    click.secho("\nAR Portal demo", bold=True)
    click.echo(f"Portal:         {portal_url}/   (customer pages below; no login needed)")
    click.echo(f"Stripe sandbox: {sandbox_url}   (offline; pay with card 4242 4242 4242 4242, "
               "or bank account 000123456789 / routing 110000000)\n")
    for label, url in links_to_print:
        click.echo(f"  {label}\n    {url}")
    click.echo(f"\nStaff console:  {portal_url}/staff/\n  sign in as {DEMO_STAFF} with the "
               f"password {staff_password}   (admin; a new password each run)")
    if console.ran:
        click.echo("  Made through the sandbox for the console this run:")
        for line in console.ran:
            click.echo(f"    {line}")
    else:
        click.echo("  (its sample payments and exceptions were made by an earlier run)")
    pi = console.clearing[0] if console.clearing else "<pi_…>"
    click.echo(f"\nSettle a pending ACH debit: curl -X POST {sandbox_url}/_sandbox/payment_intents/"
               f"{pi}/settle\nEmails (fresh links) land in instance/outbox/. Ctrl-C stops.\n")


def _collections(app: Flask) -> str:
    """Learn the sample customers' habits and run one reminder tick now (the worker does it
    every 15 minutes), so the worklist and the timelines have something to show."""
    with app.app_context():
        reminders.learn(app)
        report = reminders.run_tick(app)
        for email_id in report.emails:
            tasks.enqueue_email(app, email_id)
    return (f"Reminders: {len(report.emails)} emails (to instance/outbox/) and {report.tasks} "
            "tasks for the worklist this run; outside 09:00-17:00 UTC on weekdays they wait."
            "\n  What comes next: portal reminders preview --days 14, or "
            "/staff/reminders/preview\n")


def _serve_until_interrupted() -> None:
    # The servers run in threads since the seeding needed them; the main thread waits for ^C.
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        click.echo("stopping")


@contextmanager
def _quiet(logger_name: str):
    # A filter, not a level: werkzeug picks its own level on its first message.
    logger = logging.getLogger(logger_name)

    def drop_info(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    logger.addFilter(drop_info)
    try:
        yield
    finally:
        logger.removeFilter(drop_info)


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
    # The sandbox starts empty each time: sessions opened and Stripe customers created in an
    # earlier run no longer exist there (a stale customer id would make every Checkout fail).
    with app.app_context(), database.db().transaction() as session:
        session.execute(update(PaymentAttempt).where(PaymentAttempt.status == "open")
                        .values(status="expired"))
        session.execute(update(Customer).where(Customer.stripe_customer_id.is_not(None))
                        .values(stripe_customer_id=None))


def _demo_db(instance: str | None) -> str:
    from portal import _instance_path

    return f"sqlite:///{os.path.join(instance or _instance_path(), 'demo.db')}"

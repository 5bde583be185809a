"""The ``portal`` command as an operator runs it: schema, API keys, ledger check, Stripe sync,
and the one-line refusal when the secrets are missing."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import inspect, update

from payments.db import make_engine
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import Payment
from payments.migrate import current
from payments.staff.models import ApiKey
from payments.stripe.facts import PaymentFacts
from portal import cli as cli_module
from portal.cli import cli
from tests.conftest import LINK_KEY
from tests.factories import lines_totalling
from tests.stripe_sandbox.conftest import serve


def portal(app, *args: str):
    """Run ``portal ARGS`` against ``app``."""
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A shell with no portal settings at all, and its own instance folder."""
    for name in list(os.environ):
        if name.startswith(("PORTAL_", "STRIPE_", "FLASK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    return monkeypatch


@pytest.fixture
def from_environment():
    """Run ``portal ARGS`` with the app built from the environment, as the installed script
    does; the apps it made are closed at teardown."""
    made = []

    def build():
        made.append(cli_module._create_app())
        return made[-1]

    yield lambda *args: CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=build))
    for app in made:
        app.extensions["portal.db"].dispose()


# --- portal db upgrade ---------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_in_an_empty_sqlite_file(environment, from_environment,
                                                               tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    environment.setenv("PORTAL_DATABASE_URL", url)
    environment.setenv("PORTAL_SECRET_KEY", "operator-secret")
    environment.setenv("PORTAL_LINK_KEY", LINK_KEY)

    first = from_environment("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert first.stdout == "Database is up to date.\n"
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"customers", "invoices", "invoice_lines", "pay_links", "api_keys",
                "payments", "ledger_entries"} <= tables
        head = current(engine)
        assert head is not None

        again = from_environment("db", "upgrade")  # idempotent: same revision, same tables
        assert again.exit_code == 0 and again.stdout == "Database is up to date.\n"
        assert current(engine) == head
        assert set(inspect(engine).get_table_names()) == tables
    finally:
        engine.dispose()


def test_a_command_without_the_secrets_exits_with_one_line(environment):
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "PORTAL_SECRET_KEY and PORTAL_LINK_KEY not set" in errors[0]
    assert "Traceback" not in result.output
    assert not os.path.exists(os.path.join(os.environ["PORTAL_INSTANCE_PATH"], "portal.db"))


def test_help_lists_the_commands_even_without_secrets(environment):
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("apikey", "db", "demo", "import", "ledger", "sandbox", "stripe"):
        assert f"  {command} " in result.stdout


# --- portal apikey create ------------------------------------------------------------------------


def test_apikey_create_prints_a_working_key_once_and_stores_only_its_hash(app, client, db):
    result = portal(app, "apikey", "create", "ERP sync")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("arp_") and "\n" not in key  # stdout is the key alone: scriptable
    assert "Store it now: it cannot be shown again." in result.stderr and key not in result.stderr

    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/invoices", headers=auth).status_code == 200
    wrong = {"Authorization": f"Bearer {key[:-1]}{'A' if key[-1] != 'A' else 'B'}"}
    assert client.get("/api/v1/invoices", headers=wrong).status_code == 401

    with db.reader() as session:
        stored = session.execute(ApiKey.__table__.select()).one()
    assert stored.name == "ERP sync"
    assert stored.key_hash == hashlib.sha256(key.encode()).digest()
    for value in stored:  # the name, a short prefix to recognise it by, the hash, dates
        assert key.encode() not in value if isinstance(value, bytes) else key not in str(value)

    second = portal(app, "apikey", "create", "ERP sync")
    assert second.stdout.strip() != key  # a new key every time: nothing is shown again


def test_apikey_create_refuses_a_blank_name_with_a_message(app):
    result = portal(app, "apikey", "create", "  ")
    assert result.exit_code == 2  # a usage error, like any other bad argument
    assert "an API key needs a name" in result.output
    assert "Traceback" not in result.output


# --- portal ledger verify ------------------------------------------------------------------------


def _pay(db, invoice_id: int, amount: int, status: str, pi: str) -> None:
    with db.transaction() as session:
        payment = Payment(payment_intent_id=pi, currency="USD", amount=amount, status="pending")
        session.add(payment)
        session.flush()
        ledger.reconcile_payment(session, payment, [(invoice_id, amount)], PaymentFacts(status))


def test_ledger_verify_passes_on_balances_the_ledger_wrote(app, api, db):
    a = api.create(external_id="A", number="A", **lines_totalling(1, 10000))
    b = api.create(external_id="B", number="B", **lines_totalling(1, 5000))
    _pay(db, a["id"], 10000, "succeeded", "pi_card")
    _pay(db, b["id"], 2000, "pending", "pi_ach")

    result = portal(app, "ledger", "verify")
    assert result.exit_code == 0, result.output
    assert "Ledger verified: every invoice balance matches its entries." in result.stdout

    with db.transaction() as session:
        session.execute(update(Invoice).where(Invoice.id == b["id"]).values(amount_pending=0))
    result = portal(app, "ledger", "verify")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"invoice {b['id']}: stored paid/pending 0/0, "
                                     "ledger says 0/2000")


# --- portal stripe sync --------------------------------------------------------------------------


@pytest.fixture
def stripe_app(app_factory):
    """The app pointed at a sandbox running in this process."""
    sandboxes = serve({})
    sandbox = next(sandboxes)
    yield app_factory(STRIPE_SECRET_KEY="sk_test_cli", STRIPE_API_BASE=sandbox.url)
    next(sandboxes, None)


def test_stripe_sync_clamps_a_since_older_than_30_days(stripe_app):
    result = portal(stripe_app, "stripe", "sync", "--since", "2000-01-01")
    assert result.exit_code == 0, result.output
    floor = datetime.now(UTC) - timedelta(days=30)
    assert (f"Stripe keeps events for 30 days; syncing from {floor:%Y-%m-%d}"
            in result.stderr)
    assert "0 events since" in result.stdout and "0 failed" in result.stdout


def test_stripe_sync_uses_a_recent_since_as_given(stripe_app, db):
    since = (datetime.now(UTC) - timedelta(days=3)).date()
    result = portal(stripe_app, "stripe", "sync", "--since", since.isoformat())
    assert result.exit_code == 0, result.output
    assert "30 days" not in result.output
    assert f"events since {since:%Y-%m-%d} 00:00 UTC" in result.stdout


def test_stripe_sync_refuses_a_malformed_date(stripe_app):
    result = portal(stripe_app, "stripe", "sync", "--since", "22/11/2026")
    assert result.exit_code == 2
    assert "'22/11/2026' does not match the format '%Y-%m-%d'" in result.stderr


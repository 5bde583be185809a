"""The ``portal`` command (a Flask CLI group): demo, db, apikey, staff, import, and Flask's run."""

from __future__ import annotations

import sys
from datetime import UTC

import click
from flask import current_app
from flask.cli import FlaskGroup, NoAppException
from sqlalchemy.exc import IntegrityError

from payments.events import recovery
from payments.ledger import ledger as ledger_module
from payments.migrate import upgrade
from payments.staff import accounts, api_keys, audit
from payments.staff.models import ROLES
from portal import create_app, database
from portal.config import ConfigError


def _create_app():
    # NoAppException is how Flask's CLI reports an app that cannot load: `portal --help` still
    # lists the commands, and a command that needs the app exits with the one-line message.
    try:
        return create_app()
    except ConfigError as exc:
        raise NoAppException(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False)
def cli() -> None:
    """AR Portal: customer self-service payments for accounts receivable."""


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    upgrade(database.db().engine)
    click.echo("Database is up to date.")


@cli.group()
def apikey() -> None:
    """API keys for the integration API."""


@apikey.command("create")
@click.argument("name")
def apikey_create(name: str) -> None:
    """Create an API key called NAME and print it (the only time it is shown)."""
    if not name.strip():
        raise click.BadParameter("an API key needs a name that is not blank", param_hint="NAME")
    with database.db().transaction() as session:
        key, plaintext = api_keys.create(session, name, audit.CLI)
    click.echo(plaintext)
    click.echo(f"Created API key {key.id} ({name}). Store it now: it cannot be shown again.",
               err=True)


@cli.group()
def staff() -> None:
    """Staff accounts of the console (/staff/)."""


def _read_password() -> str:
    # Never an argument: it would land in shell history and in `ps` for every local user.
    stdin = sys.stdin
    if stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    password = stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password: type it at the prompt, or pipe it on stdin")
    return password


def _staff_user(email: str):
    with database.db().reader() as session:
        user = accounts.by_email(session, email)
    if user is None:
        raise click.ClickException(f"there is no staff user with the email {email}")
    return user


@staff.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
def staff_add(email: str, role: str) -> None:
    """Add a staff user; the password is prompted for (twice), or read from stdin."""
    password = _read_password()
    try:
        accounts.check_password(password)
        hashed = accounts.hash_password(password)  # outside the transaction: slow on purpose
        with database.db().transaction() as session:
            user = accounts.add(session, audit.CLI, email, role, password, password_hash=hashed)
    except accounts.StaffError as exc:
        raise click.ClickException(str(exc)) from None
    except IntegrityError:  # added by someone else between our check and our insert
        raise click.ClickException(f"a staff user with the email {email} already exists"
                                   ) from None
    click.echo(f"Added {user.email} ({user.role}).")


@staff.command("deactivate")
@click.argument("email")
def staff_deactivate(email: str) -> None:
    """Deactivate a staff user and end every session they have."""
    user = _staff_user(email)
    try:
        with database.db().transaction() as session:
            accounts.deactivate(session, audit.CLI, user.id)
    except accounts.StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Deactivated {user.email}; their sessions have ended.")


@staff.command("password")
@click.argument("email")
def staff_password(email: str) -> None:
    """Set a staff user's password (prompted, or from stdin); ends every session they have."""
    user = _staff_user(email)
    password = _read_password()
    try:
        accounts.check_password(password)
        hashed = accounts.hash_password(password)
        with database.db().transaction() as session:
            accounts.set_password(session, audit.CLI, user.id, password, password_hash=hashed)
    except accounts.StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Password of {user.email} changed; their sessions have ended.")


@staff.command("list")
def staff_list() -> None:
    """List staff users: email, role, status, last login (UTC)."""
    with database.db().reader() as session:
        users = accounts.list_users(session)
    for user in users:
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        status = "active" if user.active else "deactivated"
        click.echo(f"{user.email}\t{user.role}\t{status}\t{last}")
    if not users:
        click.echo("No staff users yet: portal staff add EMAIL --role admin", err=True)


@cli.group()
def ledger() -> None:
    """The ledger of invoice balances."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Recompute every invoice balance from the ledger; list differences (exit 1 if any)."""
    with database.db().reader() as session:
        differences = ledger_module.verify(session)
    for d in differences:
        click.echo(f"invoice {d.invoice_id}: stored paid/pending {d.stored[0]}/{d.stored[1]}, "
                   f"ledger says {d.ledger[0]}/{d.ledger[1]}", err=True)
    if differences:
        raise SystemExit(1)
    click.echo("Ledger verified: every invoice balance matches its entries.")


from stripe_sandbox.cli import sandbox_command  # noqa: E402


@cli.group("stripe")
def stripe_group() -> None:
    """Recovery from Stripe."""


@stripe_group.command("sync")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Start from this date (UTC) instead of the stored checkpoint.")
def stripe_sync(since) -> None:
    """Apply every Stripe event webhooks missed (30 days at most), then check open attempts."""
    gateway = current_app.extensions.get("portal.stripe")
    if gateway is None:
        raise click.ClickException("STRIPE_SECRET_KEY is not set")
    report = recovery.run(database.db(), gateway, since.replace(tzinfo=UTC) if since else None)
    if report.clamped:
        click.echo("Stripe keeps events for 30 days; syncing from "
                   f"{report.since:%Y-%m-%d %H:%M} UTC instead.", err=True)
    counts = report.outcomes
    click.echo(f"{sum(counts.values())} events since {report.since:%Y-%m-%d %H:%M} UTC: "
               f"{counts['applied']} applied, {counts['duplicate']} already known, "
               f"{counts['failed']} failed; {report.swept} open attempts checked.")
    if counts["failed"]:
        raise SystemExit(1)


from portal.cli import demo as _demo  # noqa: E402
from portal.cli import importer as _importer  # noqa: E402
from portal.cli import reminders as _reminders  # noqa: E402
from portal.cli import worker as _worker  # noqa: E402

cli.add_command(_demo.demo)
cli.add_command(sandbox_command)
cli.add_command(_importer.import_group)
cli.add_command(_reminders.reminders_group)
cli.add_command(_worker.worker_command)
cli.add_command(_worker.run_with_worker)  # replaces Flask's own "run"

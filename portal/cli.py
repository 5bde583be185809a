"""The ``portal`` command (a Flask CLI group): demo, db, apikey, import, and Flask's own run."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import FlaskGroup, NoAppException

from payments import apikeys
from payments.migrate import upgrade
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
    with database.db().transaction() as session:
        key, plaintext = apikeys.create(session, name)
    click.echo(plaintext)
    click.echo(f"Created API key {key.id} ({name}). Store it now: it cannot be shown again.",
               err=True)


from portal import demo as _demo  # noqa: E402
from portal import importer as _importer  # noqa: E402

cli.add_command(_demo.demo)
cli.add_command(_importer.import_group)
__all__ = ["cli", "current_app"]

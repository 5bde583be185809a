"""``portal reminders preview [--days 14] [--customer ID]``: every contact the reminders would
make, to whom, when and why, without sending anything; ``portal reminders run``: one tick now
(what the worker does every 15 minutes)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from payments.clock import utcnow
from payments.collections import preview
from portal import database, reminders, tasks


@click.group("reminders")
def reminders_group() -> None:
    """Customer reminders."""


@reminders_group.command("preview")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366),
              help="How many days ahead to look.")
@click.option("--customer", "customer_id", type=int, default=None,
              help="Only this customer (its id in the console).")
@with_appcontext
def preview_command(days: int, customer_id: int | None) -> None:
    """List the contacts of the next DAYS days; sends nothing."""
    settings = reminders.settings(current_app)
    with database.db().reader() as session:
        found = preview.upcoming(session, settings, utcnow(), days, customer_id)
    if not found:
        click.echo(f"No reminders in the next {days} days.")
        return
    for contact in found:
        to = f" to {', '.join(contact.to)}" if contact.to else ""
        click.echo(f"{contact.at:%Y-%m-%d %H:%M} UTC  {contact.customer} "
                   f"(#{contact.customer_id}): {contact.channel}{to}")
        for step in contact.steps:
            click.echo(f"    {step.invoice.number}: {step.why}")
    click.echo(f"{len(found)} contacts in the next {days} days; nothing was sent.")


@reminders_group.command("run")
@with_appcontext
def run_command() -> None:
    """Run one reminder tick now and queue its emails."""
    sent = tasks.send_reminders(current_app)
    click.echo(f"{sent} reminder emails queued.")

"""``portal worker`` (the consumer of background work) and ``portal run`` (Flask's development
server with a consumer embedded, so one command runs everything)."""

from __future__ import annotations

import logging
import os

import click
from flask import current_app
from flask.cli import run_command, with_appcontext
from flask.helpers import get_debug_flag

from portal import tasks


@click.command("worker")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="How many tasks run at once.")
@click.option("--worker-type", default="thread", show_default=True,
              type=click.Choice(["thread", "process"]),
              help="Threads share one process; processes use every CPU.")
@click.option("--no-ticks", is_flag=True,
              help="Run queued tasks only; another worker runs the periodic ticks.")
@with_appcontext
def worker_command(workers: int, worker_type: str, no_ticks: bool) -> None:
    """Run background work: queued tasks and the periodic ticks (e.g. the Stripe sync).

    Run one or more next to ``gunicorn wsgi:app``; with PORTAL_REDIS_URL they may be on other
    hosts. SIGTERM (systemd, docker stop) lets the running tasks finish; Ctrl-C stops at once.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for tick in () if no_ticks else tasks.TICKS:
        click.echo(f"tick {tick.name}: {tick.description}")
    tasks.consumer(app, workers=workers, worker_type=worker_type, ticks=not no_ticks).run()


@click.command("run", params=run_command.params, help=run_command.help,
               context_settings=run_command.context_settings)
@click.pass_context
@with_appcontext
def run_with_worker(ctx: click.Context, **options) -> None:
    """Flask's ``run``, plus a background consumer in the serving process."""
    reloading = options.get("reload")
    if reloading is None:
        reloading = get_debug_flag()
    # With the reloader the serving process is the child werkzeug starts, not this one.
    if not reloading or os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        tasks.start_embedded(current_app._get_current_object())  # type: ignore[attr-defined]
    ctx.invoke(run_command, **options)

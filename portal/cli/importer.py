"""``portal import invoices FILE.csv [--dry-run]``: all of the file or none of it."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from payments.invoicing import csv_import
from payments.invoicing.upsert import Conflict, upsert_invoice
from portal import database


@click.group("import")
def import_group() -> None:
    """Bulk imports."""


@import_group.command("invoices")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True,
              help="Validate and report what would change; write nothing.")
@with_appcontext
def import_invoices(path: Path, dry_run: bool) -> None:
    """Import invoices from PATH (one row per invoice line; see the README for the columns)."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        parsed, problems = csv_import.read(stream)
    if problems:
        _fail(problems)
    counts: Counter[str] = Counter()
    policy = current_app.extensions["portal.links"]
    with database.db().writer() as session:
        with click.progressbar(parsed, label="Importing invoices", file=sys.stderr) as bar:
            for item in bar:
                try:
                    counts[upsert_invoice(session, item.invoice, policy).outcome] += 1
                except Conflict as exc:
                    problems.append(csv_import.Problem(item.row, exc.field or "external_id",
                                                       str(exc)))
        if problems or dry_run:
            session.rollback()
        else:
            session.commit()
    if problems:
        _fail(problems)
    created, updated = ("to create", "to update") if dry_run else ("created", "updated")
    noun = "invoice" if len(parsed) == 1 else "invoices"
    click.echo(f"{len(parsed)} {noun} in {path.name}: {counts['created']} {created}, "
               f"{counts['updated']} {updated}, {counts['unchanged']} unchanged."
               + (" Dry run: nothing was written." if dry_run else ""))


def _fail(problems: list[csv_import.Problem]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{len(problems)} problem(s) found; nothing was imported.", err=True)
    sys.exit(1)

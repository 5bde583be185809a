"""``portal import invoices FILE.csv [--dry-run]`` as an AR clerk runs it: the whole file or
nothing, every problem as ``row N, column: message``, and a second run that changes nothing.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from payments.invoicing import csv_import
from payments.invoicing.models import Customer, Invoice, InvoiceLine
from payments.ledger import ledger
from payments.ledger.models import Payment
from payments.links.models import PayLink
from payments.stripe.facts import PaymentFacts
from portal.cli import cli
from tests.conftest import path_of
from tests.paths import ROOT

EXAMPLE = ROOT / "examples" / "invoices.csv"
# The column order of the README's table (and of examples/invoices.csv).
HEADER = ["external_id", "number", "currency", "issue_date", "due_date", "customer_external_id",
          "customer_name", "customer_email", "description", "quantity", "unit_amount", "amount",
          "tax_amount", "total", "terms", "memo", "allow_partial", "min_partial_amount"]
WHOLE_NUMBER = "must be a whole number of minor units (e.g. 1050 for 10.50)"


def row(**overrides: str) -> dict[str, str]:
    """One valid single-line invoice row (ERP-1, $10.00); ``overrides`` replace cells."""
    return {"external_id": "ERP-1", "number": "INV-1", "currency": "USD",
            "issue_date": "2026-11-01", "due_date": "2026-12-01", "customer_external_id": "C-1",
            "customer_name": "Northwind Traders", "customer_email": "ap@northwind.example",
            "description": "Widgets", "quantity": "", "unit_amount": "", "amount": "1000",
            "tax_amount": "", "total": "1000", "terms": "Net 30", "memo": "",
            "allow_partial": "", "min_partial_amount": "", **overrides}


def write_csv(tmp_path: Path, rows: list[dict[str, str]], header: list[str] = HEADER,
              encoding: str = "utf-8") -> Path:
    """``rows`` under ``header`` as ``invoices.csv`` (rewritten on each call)."""
    path = tmp_path / "invoices.csv"
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_import(app, path: Path, *options: str):
    """Run the command; returns (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, ["import", "invoices", str(path), *options],
                                obj=ScriptInfo(create_app=lambda: app))
    return result.exit_code, result.stdout, result.stderr


def snapshot(db) -> dict[str, list[tuple]]:
    """Every row of every table the import writes, in id order."""
    with db.reader() as session:
        return {model.__tablename__: [tuple(r) for r in session.execute(
                    model.__table__.select().order_by(model.__table__.c.id))]
                for model in (Customer, Invoice, InvoiceLine, PayLink)}


def problems(stderr: str) -> list[str]:
    """The ``row N, column: message`` lines of a failed import."""
    return [line for line in stderr.splitlines() if re.match(r"row \d+, ", line)]


def invoices_by_external_id(api) -> dict[str, dict]:
    return {inv["external_id"]: inv for inv in api.get("/invoices?limit=100").get_json()["data"]}


# --- the example file ----------------------------------------------------------------------------


def test_example_file_imports_and_is_served_through_the_api(app, api, client):
    code, out, err = run_import(app, EXAMPLE)
    assert code == 0, err
    assert "5 invoices in invoices.csv: 5 created, 0 updated, 0 unchanged." in out
    invoices = invoices_by_external_id(api)
    assert sorted(invoices) == ["ERP-4711", "ERP-4712", "ERP-4713", "ERP-4714", "ERP-4715"]
    assert len({inv["customer"]["external_id"] for inv in invoices.values()}) == 3
    usd = invoices["ERP-4711"]
    assert (usd["total"], usd["tax_amount"], len(usd["lines"])) == (3850, 350, 2)
    assert usd["lines"][0] == {"description": "Widgets", "quantity": "3", "unit_amount": 1000,
                               "amount": 3000}
    partial = invoices["ERP-4712"]
    assert [ln["amount"] for ln in partial["lines"]] == [187500, 23840, -10000]
    assert (partial["allow_partial"], partial["min_partial_amount"]) == (True, 50000)
    yen = invoices["ERP-4715"]
    assert (yen["currency"], yen["total"], yen["terms"]) == ("JPY", 112200, "月末締め翌月末払い")
    assert invoices["ERP-4714"]["lines"][0]["description"] == "Lab supplies, boxed"
    for inv in invoices.values():
        assert inv["pay_url"].startswith("https://portal.test/i/")
        assert inv["customer"]["statement_url"].startswith("https://portal.test/s/")
    page = client.get(path_of(yen["pay_url"]))
    assert page.status_code == 200 and "INV-4715" in page.get_data(as_text=True)


def _readme_columns() -> list[tuple[str, bool]]:
    section = (ROOT / "README.md").read_text().split("## Importing invoices from CSV")[1]
    section = section.split("\n## ")[0]
    columns = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            columns += [(name, cells[1] == "yes") for name in re.findall(r"`(\w+)`", cells[0])]
    return columns


def test_readme_table_matches_the_example_header_and_the_importer():
    documented = _readme_columns()
    with EXAMPLE.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh))
    assert header == [name for name, _ in documented] == HEADER
    assert set(header) == set(csv_import.COLUMNS)
    assert {name for name, required in documented if required} == set(csv_import.REQUIRED)


# --- grouping, idempotency, dry run --------------------------------------------------------------


def test_rows_with_one_external_id_form_one_invoice_in_file_order(app, api, tmp_path):
    rows = [row(description="Widgets", amount="600", total="1100"),
            row(external_id="ERP-2", number="INV-2"),
            row(description="Delivery", amount="500", total="1100")]
    code, out, err = run_import(app, write_csv(tmp_path, rows))
    assert code == 0, err
    assert "2 invoices in invoices.csv: 2 created" in out
    invoices = invoices_by_external_id(api)
    assert [ln["description"] for ln in invoices["ERP-1"]["lines"]] == ["Widgets", "Delivery"]
    assert invoices["ERP-1"]["total"] == 1100 and invoices["ERP-2"]["total"] == 1000


def test_importing_the_same_file_again_changes_nothing(app, api, db):
    assert run_import(app, EXAMPLE)[0] == 0
    before, links = snapshot(db), {k: v["pay_url"] for k, v in invoices_by_external_id(api).items()}
    code, out, _err = run_import(app, EXAMPLE)
    assert code == 0
    assert "0 created, 0 updated, 5 unchanged." in out
    assert snapshot(db) == before
    assert {k: v["pay_url"] for k, v in invoices_by_external_id(api).items()} == links


def test_a_changed_row_updates_only_its_invoice(app, api, tmp_path):
    run_import(app, write_csv(tmp_path, [row(), row(external_id="ERP-2", number="INV-2")]))
    code, out, _err = run_import(app, write_csv(tmp_path, [
        row(memo="PO 4711"), row(external_id="ERP-2", number="INV-2")]))
    assert code == 0 and "0 created, 1 updated, 1 unchanged." in out
    invoices = invoices_by_external_id(api)
    assert (invoices["ERP-1"]["memo"], invoices["ERP-1"]["revision"]) == ("PO 4711", 2)
    assert invoices["ERP-2"]["revision"] == 1


def test_dry_run_reports_what_would_change_and_writes_nothing(app, db, tmp_path):
    empty = snapshot(db)
    code, out, _err = run_import(app, EXAMPLE, "--dry-run")
    assert code == 0
    assert "5 to create, 0 to update, 0 unchanged. Dry run: nothing was written." \
        in out
    assert snapshot(db) == empty

    run_import(app, write_csv(tmp_path, [row()]))
    imported = snapshot(db)
    code, out, _err = run_import(app, write_csv(tmp_path, [row(terms="Net 45")]), "--dry-run")
    assert code == 0 and "0 to create, 1 to update" in out
    assert snapshot(db) == imported


def test_a_new_total_on_an_invoice_with_payments_is_a_conflict(app, db, tmp_path):
    run_import(app, write_csv(tmp_path, [row()]))
    with db.transaction() as session:
        invoice_id = session.scalar(select(Invoice.id))
        payment = Payment(payment_intent_id="pi_csv", currency="USD", amount=400,
                          status="pending")
        session.add(payment)
        session.flush()
        ledger.reconcile_payment(session, payment, [(invoice_id, 400)], PaymentFacts("succeeded"))
    before = snapshot(db)
    path = write_csv(tmp_path, [
        row(amount="1200", total="1200"),
        row(external_id="ERP-2", number="INV-2", customer_external_id="C-2")])
    code, _out, err = run_import(app, path)
    assert code == 1
    assert problems(err) == ["row 2, total: total cannot change: the invoice has payments"]
    assert "1 problem(s) found; nothing was imported." in err
    assert snapshot(db) == before  # not even ERP-2 or its new customer


# --- validation: every problem, nothing imported -------------------------------------------------


def test_every_problem_in_the_file_is_listed_and_nothing_is_imported(app, db, tmp_path):
    rows = [row(external_id="GOOD", number="GOOD"),
            row(external_id="E2", amount="10.50"),
            row(external_id="E3", currency="XYZ"),
            row(external_id="E4", issue_date="2026-12-01", due_date="2026-11-01"),
            row(external_id="E5", amount="1000", tax_amount="80", total="1000"),
            row(external_id="E6", issue_date="01/11/2026"),
            row(external_id="E7", allow_partial="maybe", quantity="two")]
    code, out, err = run_import(app, write_csv(tmp_path, rows))
    assert code == 1 and out == ""
    assert problems(err) == [
        f"row 3, amount: {WHOLE_NUMBER}",
        "row 4, currency: XYZ is not an active ISO 4217 currency code",
        "row 5, due_date: must not be before issue_date",
        "row 6, total: must equal the sum of line amounts plus tax_amount (1000 + 80 = 1080)",
        "row 7, issue_date: must be a date like 2026-01-31",
        "row 8, allow_partial: must be true or false",
        "row 8, quantity: must be a number like 2 or 1.5",
    ]
    assert err.rstrip().endswith("7 problem(s) found; nothing was imported.")
    assert all(rows == [] for rows in snapshot(db).values())  # not even the good invoice


@pytest.mark.parametrize("column", ["total", "tax_amount", "unit_amount", "min_partial_amount"])
def test_decimal_money_is_refused_in_every_minor_unit_column(app, tmp_path, column):
    code, _out, err = run_import(app, write_csv(tmp_path, [row(**{column: "12.00"})]))
    assert code == 1
    assert f"row 2, {column}: {WHOLE_NUMBER}" in problems(err)


@pytest.mark.parametrize("column", csv_import.REQUIRED)
def test_a_blank_required_cell_is_reported_as_required(app, tmp_path, column):
    code, _out, err = run_import(app, write_csv(tmp_path, [row(**{column: ""})]))
    assert code == 1
    assert problems(err) == [f"row 2, {column}: is required"]


def test_invoice_columns_must_repeat_on_every_line(app, db, tmp_path):
    rows = [row(description="Widgets", amount="600", total="1100"),
            row(description="Delivery", amount="500", total="1100", due_date="2026-12-15",
                customer_name="Northwind")]
    code, _out, err = run_import(app, write_csv(tmp_path, rows))
    assert code == 1
    repeat = "differs from row 2 of the same invoice (invoice columns must repeat exactly)"
    assert problems(err) == [f"row 3, due_date: {repeat}", f"row 3, customer_name: {repeat}"]
    assert snapshot(db)["invoices"] == []


def test_a_bad_second_line_is_reported_on_its_own_row(app, tmp_path):
    rows = [row(amount="600", total="1100"), row(description="x" * 1001, amount="500",
                                                 total="1100")]
    code, _out, err = run_import(app, write_csv(tmp_path, rows))
    assert code == 1
    assert problems(err) == ["row 3, description: String should have at most 1000 characters"]


def test_missing_and_unknown_header_columns_are_named(app, tmp_path):
    header = [c for c in HEADER if c not in ("total", "customer_name")] + ["colour"]
    code, _out, err = run_import(app, write_csv(tmp_path, [row()], header=header))
    assert code == 1
    assert problems(err) == ["row 1, customer_name: required column is missing",
                             "row 1, total: required column is missing",
                             "row 1, colour: unknown column"]


def test_a_file_with_only_a_header_is_refused(app, tmp_path):
    code, _out, err = run_import(app, write_csv(tmp_path, []))
    assert code == 1
    assert problems(err) == ["row 2, (file): no invoice rows below the header"]


def test_utf8_with_byte_order_mark_is_accepted(app, api, tmp_path):
    path = write_csv(tmp_path, [row(customer_name="Société Générale")], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfexternal_id,")
    code, _out, err = run_import(app, path)
    assert code == 0, err
    assert invoices_by_external_id(api)["ERP-1"]["customer"]["name"] == "Société Générale"


def test_a_file_that_does_not_exist_is_refused(app, tmp_path):
    code, _out, err = run_import(app, tmp_path / "missing.csv")
    assert code == 2
    assert "does not exist" in err


def test_rows_after_a_blank_line_keep_their_spreadsheet_number(app, tmp_path):
    path = write_csv(tmp_path, [])
    path.write_text(path.read_text() + "\n" + ",".join(row(amount="10.50").values()) + "\n")
    code, _out, err = run_import(app, path)
    assert code == 1
    assert problems(err) == [f"row 3, amount: {WHOLE_NUMBER}"]  # row 2 is the blank one


def test_a_header_with_spaces_after_the_commas_imports(app, api, tmp_path):
    path = tmp_path / "spaced.csv"
    path.write_text(", ".join(HEADER) + "\n" + ",".join(row().values()) + "\n")
    code, _out, err = run_import(app, path)
    assert code == 0, err
    assert invoices_by_external_id(api)["ERP-1"]["total"] == 1000


"""Read an invoice CSV (one row per invoice line, grouped by ``external_id``) into payloads.

Every problem in the file is reported as ``row N, column: message`` where N is the row number a
spreadsheet shows (the header is row 1). Nothing is imported unless the whole file is valid: the
caller gets either payloads or errors, never both.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from payments.invoicing.schemas import InvoiceIn, parse_invoice

INVOICE_COLUMNS = ("external_id", "number", "currency", "issue_date", "due_date",
                   "customer_external_id", "customer_name", "customer_email", "tax_amount",
                   "total", "terms", "memo", "allow_partial", "min_partial_amount")
LINE_COLUMNS = ("description", "quantity", "unit_amount", "amount")
COLUMNS = INVOICE_COLUMNS + LINE_COLUMNS
REQUIRED = ("external_id", "number", "currency", "issue_date", "due_date",
            "customer_external_id", "customer_name", "description", "amount", "total")
INTEGER = {"tax_amount", "total", "min_partial_amount", "unit_amount", "amount"}
_INT_RE = re.compile(r"-?\d+")
_BOOLS = {"": False, "false": False, "no": False, "0": False, "true": True, "yes": True, "1": True}
# Where a payload field's error is reported in the file.
_FIELD_COLUMN = {"customer.external_id": "customer_external_id", "customer.name": "customer_name",
                 "customer.email": "customer_email", "customer": "customer_external_id"}


@dataclass
class Problem:
    """One thing wrong with the file."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}"


@dataclass
class Parsed:
    """A valid invoice from the file and the row its first line is on."""

    invoice: InvoiceIn
    row: int


def read(stream: IO[str]) -> tuple[list[Parsed], list[Problem]]:
    """Parse and validate the whole file; returns ``(invoices, [])`` or ``([], problems)``."""
    # csv.reader, not DictReader: DictReader skips blank lines, and every row after one would be
    # reported under the wrong spreadsheet row number.
    records = csv.reader(stream)
    header = [name.strip() for name in next(records, [])]
    problems = _check_header(header)
    if problems:
        return [], problems
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row_no, cells in enumerate(records, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a spreadsheet's empty row of commas
        if len(cells) > len(header):
            problems.append(Problem(row_no, "(end)", "more values than columns in the header"))
        values = _convert(row_no, dict(zip(header, cells, strict=False)), problems)
        groups.setdefault(values.get("external_id") or f"(row {row_no})", []).append(
            (row_no, values))
    parsed = [p for rows in groups.values() if (p := _invoice(rows, problems))]
    if not groups and not problems:
        problems.append(Problem(2, "(file)", "no invoice rows below the header"))
    # A bad cell also fails the model check; report each (row, column) once, first reason first.
    unique = {(p.row, p.column): p for p in reversed(problems)}
    problems = sorted(unique.values(), key=lambda p: (p.row, COLUMNS.index(p.column)
                                                       if p.column in COLUMNS else -1))
    return ([], problems) if problems else (parsed, [])


def _check_header(names: list[str]) -> list[Problem]:
    problems = [Problem(1, col, "required column is missing") for col in REQUIRED
                if col not in names]
    problems += [Problem(1, col or "(blank)", "unknown column") for col in names
                 if col not in COLUMNS]
    return problems


def _convert(row_no: int, raw: dict[str, str], problems: list[Problem]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in COLUMNS:
        text = (raw.get(column) or "").strip()
        try:
            values[column] = _value(column, text)
        except ValueError as exc:
            problems.append(Problem(row_no, column, str(exc)))
            values[column] = None
    return values


def _value(column: str, text: str) -> Any:
    if text == "":
        return False if column == "allow_partial" else None
    if column in INTEGER:
        if not _INT_RE.fullmatch(text):
            raise ValueError("must be a whole number of minor units (e.g. 1050 for 10.50)")
        return int(text)
    if column in ("issue_date", "due_date"):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError("must be a date like 2026-01-31") from None
    if column == "quantity":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError("must be a number like 2 or 1.5") from None
    if column == "allow_partial":
        if text.lower() not in _BOOLS:
            raise ValueError("must be true or false")
        return _BOOLS[text.lower()]
    return text


def _invoice(rows: list[tuple[int, dict[str, Any]]], problems: list[Problem]) -> Parsed | None:
    first_row, first = rows[0]
    for row_no, values in rows[1:]:
        for column in INVOICE_COLUMNS:
            if values[column] != first[column]:
                problems.append(Problem(row_no, column, f"differs from row {first_row} of the "
                                        "same invoice (invoice columns must repeat exactly)"))
    payload = _payload(first, [values for _, values in rows])
    invoice, errors = parse_invoice(payload)
    for path, message in errors.items():
        row_no, column = _locate(path, rows)
        problems.append(Problem(row_no, column, message))
    return Parsed(invoice, first_row) if invoice else None


def _payload(first: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    body = {k: first[k] for k in ("external_id", "number", "currency", "issue_date", "due_date",
                                  "total", "terms", "memo", "allow_partial", "min_partial_amount")}
    body["tax_amount"] = first["tax_amount"] or 0
    body["customer"] = _given({"external_id": first["customer_external_id"],
                               "name": first["customer_name"], "email": first["customer_email"]})
    body["lines"] = [_given({k: line[k] for k in LINE_COLUMNS}) for line in lines]
    return _given(body)


def _given(values: dict[str, Any]) -> dict[str, Any]:
    # A blank cell means "not given", which the model spells by leaving the key out: a blank
    # required cell then reads "is required", not "Input should be a valid string".
    return {k: v for k, v in values.items() if v is not None}


def _locate(path: str, rows: list[tuple[int, dict[str, Any]]]) -> tuple[int, str]:
    parts = path.split(".")
    if parts[0] == "lines" and len(parts) >= 2 and parts[1].isdigit():
        index = int(parts[1])
        row_no = rows[index][0] if index < len(rows) else rows[0][0]
        return row_no, parts[2] if len(parts) > 2 else "description"
    return rows[0][0], _FIELD_COLUMN.get(".".join(parts[:2]), parts[0])

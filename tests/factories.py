"""Builders for request bodies and rows, shared by the tests."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any


def invoice_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /api/v1/invoices`` body; ``overrides`` replace top-level fields."""
    # Relative to today, so an "open" invoice stays open whenever the suite runs.
    issue = date.today() - timedelta(days=5)
    body: dict[str, Any] = {
        "external_id": "ERP-1",
        "number": "INV-0001",
        "currency": "USD",
        "issue_date": issue.isoformat(),
        "due_date": (issue + timedelta(days=30)).isoformat(),
        "customer": {"external_id": "CUST-1", "name": "Northwind Traders",
                     "email": "ap@northwind.example"},
        "lines": [
            {"description": "Widgets", "quantity": 3, "unit_amount": 1000, "amount": 3000},
            {"description": "Delivery", "amount": 500},
        ],
        "tax_amount": 350,
        "total": 3850,
        "terms": "Net 30",
    }
    body.update(copy.deepcopy(overrides))
    return body


def lines_totalling(n: int, amount: int = 100) -> dict[str, Any]:
    """``lines`` and ``total`` fields for an invoice of ``n`` equal lines and no tax."""
    return {"lines": [{"description": f"Line {i}", "amount": amount} for i in range(1, n + 1)],
            "tax_amount": 0, "total": n * amount}

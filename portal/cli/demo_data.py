"""The demo's invoices: those whose pay links ``portal demo`` prints, and those behind the staff
console's state (:mod:`portal.cli.demo_console`). Dates are relative to today, so the aging
buckets, DSO and CEI look the same whichever day the demo runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from payments.invoicing.schemas import InvoiceIn

NORTHWIND = ("C-100", "Northwind Traders", "ap@northwind.example")
GLOBEX = ("C-200", "Globex Corporation", "payables@globex.example")
INITECH = ("C-300", "Initech LLC", "billing@initech.example")
UMBRELLA = ("C-400", "Umbrella Health", "accounts@umbrella.example")
TANAKA = ("C-500", "Tanaka Shoji K.K.", "keiri@tanaka.example")


def invoice_payload(ext: str, number: str, customer: tuple[str, str, str], currency: str,
                    issued: int, due: int, lines: list[tuple[str, int, int]], tax: int = 0,
                    **extra) -> InvoiceIn:
    """An invoice as the ERP would push it; ``issued`` and ``due`` are days from today."""
    today = datetime.now(UTC).date()
    body_lines = [{"description": d, "quantity": q, "unit_amount": u, "amount": q * u}
                  for d, q, u in lines]
    return InvoiceIn.model_validate({
        "external_id": ext, "number": number, "currency": currency,
        "issue_date": today + timedelta(days=issued), "due_date": today + timedelta(days=due),
        "customer": {"external_id": customer[0], "name": customer[1], "email": customer[2]},
        "lines": body_lines, "tax_amount": tax,
        "total": sum(q * u for _, q, u in lines) + tax, "terms": "Net 30", **extra,
    }, strict=False)


def sample_invoices() -> list[tuple[str, InvoiceIn]]:
    """The demo's invoices, each with the sentence the demo prints next to its link."""
    return [
        ("A plain invoice", invoice_payload("DEMO-1001", "INV-1001", NORTHWIND, "USD", -2, 28, [
            ("Widgets, blue", 40, 1250), ("Delivery", 1, 4500)], tax=4360)),
        ("Partial payments allowed (minimum $50.00)", invoice_payload(
            "DEMO-1002", "INV-1002", GLOBEX, "USD", -5, 25,
            [("Consulting, October", 32, 15000)], allow_partial=True, min_partial_amount=5000)),
        ("An overdue invoice", invoice_payload("DEMO-0987", "INV-0987", INITECH, "USD", -50, -20, [
            ("TPS report covers", 500, 120), ("Stapler, red", 1, 2399)])),
        ("Umbrella #1 of 3", invoice_payload("DEMO-1010", "INV-1010", UMBRELLA, "USD", -70, -40, [
            ("Gloves, nitrile (box)", 120, 899)])),
        ("Umbrella #2 of 3", invoice_payload("DEMO-1011", "INV-1011", UMBRELLA, "USD", -35, -5, [
            ("Masks, N95 (box)", 60, 2450)])),
        ("Umbrella #3 of 3", invoice_payload("DEMO-1012", "INV-1012", UMBRELLA, "USD", -3, 27, [
            ("Hand sanitiser, 5 L", 24, 3100)], tax=5952)),
        ("A zero-decimal currency (JPY)", invoice_payload(
            "DEMO-2001", "INV-2001", TANAKA, "JPY", -1, 29,
            [("Precision bearings", 200, 850), ("Handling", 1, 3000)], tax=17300)),
    ]


# What happens to each console invoice (see portal.cli.demo_console): "open" nothing; "card" paid by
# card, left for staff to confirm; "ach" an ACH debit left clearing; "overpaid" paid twice;
# "unmatched" paid in Stripe without the portal; "paid" / "ach_settled" paid and confirmed;
# "disputed" paid, confirmed, then disputed.
SCENARIOS = {
    "open": "left unpaid", "card": "paid by card, waiting for confirmation",
    "ach": "ACH debit clearing", "overpaid": "paid twice in two tabs during a webhook outage",
    "unmatched": "paid in Stripe without the portal (unmatched)",
    "paid": "paid by card and confirmed", "ach_settled": "paid by ACH, cleared and confirmed",
    "disputed": "paid, confirmed, then disputed",
}


@dataclass
class DemoInvoice:
    """A console invoice, what happens to it, and (once upserted) where it lives."""

    scenario: str
    payload: InvoiceIn
    part: str | None = None  # the second tab's amount, for "overpaid"
    path: str = ""
    invoice_id: int = 0
    customer_id: int = 0

    def describe(self) -> str:
        """One line for the demo's output."""
        return f"{self.payload.number} ({self.payload.customer.name}): {SCENARIOS[self.scenario]}"


def console_invoices() -> list[DemoInvoice]:
    """The invoices behind the console's state, oldest first."""
    def inv(scenario, ext, customer, currency, issued, due, lines, **extra):
        part = extra.pop("part", None)
        return DemoInvoice(scenario, invoice_payload(ext, ext.replace("DEMO", "INV"), customer,
                                                     currency, issued, due, lines, **extra), part)

    return [
        inv("open", "DEMO-0901", INITECH, "USD", -150, -120, [("Toner cartridges", 40, 2150)]),
        inv("open", "DEMO-0950", GLOBEX, "USD", -105, -75, [("Consulting, July", 12, 15000)]),
        inv("open", "DEMO-0960", TANAKA, "JPY", -80, -50, [("Precision bearings", 300, 850)]),
        inv("open", "DEMO-0940", INITECH, "USD", -75, -45, [("Filing cabinets", 4, 32000)]),
        inv("paid", "DEMO-0970", NORTHWIND, "USD", -60, -30, [("Widgets, red", 80, 1250)]),
        inv("ach_settled", "DEMO-0975", GLOBEX, "USD", -45, -15, [("Consulting, September", 20,
                                                                   15000)]),
        inv("paid", "DEMO-0980", TANAKA, "JPY", -40, -10, [("Linear guides", 40, 4200)]),
        inv("disputed", "DEMO-0985", INITECH, "USD", -35, -5, [("Desk chairs", 6, 18900)]),
        inv("ach", "DEMO-3004", INITECH, "USD", -30, 0, [("Paper, A4 (case)", 30, 3899)]),
        inv("card", "DEMO-3003", TANAKA, "JPY", -25, 5, [("Handling", 1, 3000),
                                                         ("Bearing grease", 12, 1800)]),
        inv("card", "DEMO-3001", NORTHWIND, "USD", -20, 10, [("Widgets, green", 25, 1250)],
            tax=2578),
        inv("overpaid", "DEMO-3005", NORTHWIND, "USD", -15, 15, [("Pallets", 40, 1300)],
            allow_partial=True, min_partial_amount=1000, part="100.00"),
        inv("card", "DEMO-3002", GLOBEX, "USD", -12, 18, [("Support hours", 6, 9500)]),
        inv("unmatched", "DEMO-3006", GLOBEX, "USD", -8, 22, [("Licences, annual", 5, 5500)]),
    ]

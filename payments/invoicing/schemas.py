"""The invoice payload accepted by the API and the CSV import, and the invoice returned.

One pydantic model is both the validator and the source of the OpenAPI schema, so the document
cannot drift from what the API really accepts. Rules that JSON Schema cannot express (the total
adds up, the due date follows the issue date, the currency is a real ISO 4217 code) are checked
in :func:`cross_field_errors` and described in the schema's ``description``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payments.money import MAX_AMOUNT, is_currency

MAX_LINES = 1000

Amount = Annotated[int, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="Minor units.")]
NonNegativeAmount = Annotated[int, Field(ge=0, le=MAX_AMOUNT, description="Minor units, ≥ 0.")]
PositiveAmount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="Minor units, > 0.")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Quantity = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=18, decimal_places=6)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class CustomerIn(_Strict):
    """The customer the invoice is billed to, upserted by ``external_id``."""

    external_id: Annotated[str, Field(min_length=1, max_length=100)]
    name: Text
    email: Email | None = None


class LineIn(_Strict):
    """An invoice line; ``amount`` is what it adds to the subtotal (negative: a discount)."""

    description: Annotated[str, Field(min_length=1, max_length=1000)]
    quantity: Quantity | None = None
    unit_amount: Amount | None = None
    amount: Amount


class InvoiceIn(_Strict):
    """Create or update an invoice, keyed by ``external_id``.

    Also enforced: ``total`` equals the sum of line amounts plus ``tax_amount``; ``due_date`` is not
    before ``issue_date``; ``currency`` is an active ISO 4217 code; ``min_partial_amount`` needs
    ``allow_partial`` and is at most ``total``.
    """

    model_config = ConfigDict(title="InvoiceIn")

    external_id: Annotated[str, Field(min_length=1, max_length=100)]
    number: Annotated[str, Field(min_length=1, max_length=64)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, upper case.")]
    issue_date: date
    due_date: date
    customer: CustomerIn
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=MAX_LINES)]
    tax_amount: NonNegativeAmount = 0
    total: NonNegativeAmount
    terms: Annotated[str, Field(max_length=2000)] | None = None
    memo: Annotated[str, Field(max_length=5000)] | None = None
    allow_partial: bool = False
    min_partial_amount: PositiveAmount | None = None

    @property
    def subtotal(self) -> int:
        """Sum of the line amounts."""
        return sum(line.amount for line in self.lines)


def cross_field_errors(inv: InvoiceIn) -> dict[str, str]:
    """The rules between fields that a JSON Schema cannot state; empty when all hold."""
    errors: dict[str, str] = {}
    if not is_currency(inv.currency):
        errors["currency"] = f"{inv.currency} is not an active ISO 4217 currency code"
    if inv.due_date < inv.issue_date:
        errors["due_date"] = "must not be before issue_date"
    if inv.subtotal + inv.tax_amount != inv.total:
        errors["total"] = (
            f"must equal the sum of line amounts plus tax_amount "
            f"({inv.subtotal} + {inv.tax_amount} = {inv.subtotal + inv.tax_amount})"
        )
    if inv.min_partial_amount is not None:
        if not inv.allow_partial:
            errors["min_partial_amount"] = "only applies when allow_partial is true"
        elif inv.min_partial_amount > inv.total:
            errors["min_partial_amount"] = "must not exceed total"
    return errors


_MESSAGES = {
    "int_type": "must be an integer number of minor units (e.g. 1050 for 10.50)",
    "int_from_float": "must be an integer number of minor units (e.g. 1050 for 10.50)",
    "extra_forbidden": "is not a known field",
    "missing": "is required",
}


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Flatten pydantic errors to ``{"lines.3.amount": "message"}``, one message per field."""
    errors: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"]) or "body"
        message = err["msg"]
        if err["type"] in _MESSAGES and (err["type"] != "int_type" or _is_amount(err["loc"])):
            message = _MESSAGES[err["type"]]
        errors.setdefault(path, message)
    return errors


def _is_amount(loc: tuple[Any, ...]) -> bool:
    return bool(loc) and str(loc[-1]).endswith(("amount", "total"))


def parse_invoice(raw: bytes | str | dict) -> tuple[InvoiceIn | None, dict[str, str]]:
    """Validate a JSON body (or an already-built dict) into an :class:`InvoiceIn`.

    Returns ``(invoice, {})`` or ``(None, errors)`` where errors maps field paths to messages.
    """
    try:
        if isinstance(raw, dict):
            inv = InvoiceIn.model_validate(raw)
        else:
            inv = InvoiceIn.model_validate_json(raw)
    except ValidationError as exc:
        return None, field_errors(exc)
    errors = cross_field_errors(inv)
    return (None, errors) if errors else (inv, {})

"""What a customer may pay, decided by the server alone (never by the browser).

Full amount due, or, where the invoice allows it, a partial amount between its minimum and what
is due minus what is already pending. While part of an invoice is in dispute, "full" is the
undisputed rest (a short-pay), and a partial amount may not reach into the disputed part.
Amounts a person types ("1,250.50") become exact minor units here; anything fractional,
negative, too small for Stripe or too large is refused with a message the pay page can show
next to the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from payments.money import exponent, format_money

# Stripe's minimum charge per currency (minor units), from its "Minimum and maximum charge
# amounts" table. Currencies not listed here take the USD-equivalent floor of 50 minor units.
STRIPE_MINIMUM = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
    "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50,
    "MXN": 1000, "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300,
    "SGD": 50, "THB": 1000,
}
# Where Stripe's idea of a currency's decimals differs from ISO 4217 (or it wants round
# amounts), online payment is refused rather than risking a charge off by a factor of 100.
STRIPE_UNSUPPORTED = {"ISK", "HUF", "TWD", "UGX", "MGA", "CLF", "UYW", "BOV", "CHE", "CHW",
                      "COU", "MXV", "USN", "UYI", "XCG", "ZWG", "VED"}
MAX_STRIPE_AMOUNT = 99_999_999


class AmountError(ValueError):
    """An amount the customer may not pay; ``str()`` is the message to show."""


@dataclass(frozen=True)
class Payable:
    """What the pay rules need to know about one invoice."""

    invoice_id: int
    number: str
    currency: str
    total: int
    amount_paid: int
    amount_pending: int
    voided: bool
    allow_partial: bool
    min_partial_amount: int | None
    disputed: int = 0  # in an unresolved commercial dispute: not payable until it is resolved

    @property
    def open_amount(self) -> int:
        """Due minus pending minus disputed: what can be paid now."""
        return self.total - self.amount_paid - self.amount_pending - self.disputed


def parse_amount(text: str, currency: str) -> int:
    """``"1,250.50"`` in USD → 125050. Refuses fractions of a minor unit and non-numbers."""
    cleaned = re.sub(r"[\s,]", "", text or "")
    if not re.fullmatch(r"\d+(\.\d+)?", cleaned):
        raise AmountError("Enter an amount like 125.50")
    try:
        value = Decimal(cleaned).scaleb(exponent(currency))
    except InvalidOperation:
        raise AmountError("Enter an amount like 125.50") from None
    if value != value.to_integral_value():
        digits = exponent(currency)
        raise AmountError(f"{currency} amounts have {digits} decimal place"
                          f"{'s' if digits != 1 else ''} at most" if digits
                          else f"{currency} amounts have no decimal places")
    return int(value)


def check_amount(inv: Payable, amount: int | None, locale: str = "en_US") -> int:
    """The amount to charge on ``inv`` (``None``: everything open), or :class:`AmountError`."""
    def money(value: int) -> str:
        return format_money(value, inv.currency, locale)

    if inv.voided:
        raise AmountError(f"Invoice {inv.number} is void and cannot be paid")
    if inv.currency in STRIPE_UNSUPPORTED:
        raise AmountError(f"Online payment is not available for {inv.currency} invoices")
    if inv.open_amount <= 0:
        raise AmountError(f"Invoice {inv.number} has nothing left to pay"
                          + (" until the dispute is resolved" if inv.disputed else
                             " (a payment is still clearing)" if inv.amount_pending else ""))
    if amount is None or amount == inv.open_amount:
        amount = inv.open_amount
    elif not inv.allow_partial:
        raise AmountError(f"Invoice {inv.number} must be paid in full ({money(inv.open_amount)})")
    elif amount <= 0:
        raise AmountError("Enter an amount greater than zero")
    elif amount > inv.open_amount:
        raise AmountError(f"That is more than the {money(inv.open_amount)} you can pay now")
    elif inv.min_partial_amount and amount < inv.min_partial_amount:
        raise AmountError(f"The smallest payment on invoice {inv.number} is "
                          f"{money(inv.min_partial_amount)}")
    if exponent(inv.currency) == 3 and amount % 10:
        # Stripe charges three-decimal currencies in whole hundredths (the last digit is 0).
        raise AmountError(f"{inv.currency} amounts must end in 0 to be paid online")
    minimum = STRIPE_MINIMUM.get(inv.currency, 50)
    if amount < minimum:
        raise AmountError(f"Online payments must be at least {money(minimum)}")
    if amount > MAX_STRIPE_AMOUNT:
        raise AmountError("This amount is too large to pay online in one go; please contact us")
    return amount


def check_together(invoices: list[Payable], amounts: list[int]) -> None:
    """Rules for paying several invoices in one checkout: one currency, one Stripe limit."""
    if len({inv.currency for inv in invoices}) > 1:
        raise AmountError("Invoices in different currencies must be paid separately")
    if sum(amounts) > MAX_STRIPE_AMOUNT:
        raise AmountError("Together these invoices are too large to pay online in one go")

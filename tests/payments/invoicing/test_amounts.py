"""Every amount a customer could try to pay is checked by the server."""

from __future__ import annotations

import pytest

from payments.invoicing.amounts import (
    AmountError,
    Payable,
    check_amount,
    check_together,
    parse_amount,
)


def _inv(**overrides) -> Payable:
    base = dict(invoice_id=1, number="INV-1", currency="USD", total=10000, amount_paid=0,
                amount_pending=0, voided=False, allow_partial=True, min_partial_amount=2000)
    return Payable(**{**base, **overrides})


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("125.50", "USD", 12550), ("1,250.5", "USD", 125050), (" 7 ", "USD", 700),
    ("5000", "JPY", 5000), ("1.234", "BHD", 1234), ("0.10", "EUR", 10),
])
def test_typed_amounts_become_exact_minor_units(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(("text", "currency"), [
    ("12.345", "USD"), ("5000.5", "JPY"), ("-5", "USD"), ("", "USD"), ("1e3", "USD"),
    ("abc", "USD"), ("12.3.4", "USD"), ("$12", "USD"), ("NaN", "USD"), ("Infinity", "USD"),
])
def test_anything_else_typed_is_refused(text, currency):
    with pytest.raises(AmountError):
        parse_amount(text, currency)


def test_full_amount_is_what_is_due_minus_what_is_pending():
    assert check_amount(_inv(amount_paid=1000, amount_pending=3000), None) == 6000


@pytest.mark.parametrize(("invoice", "amount", "message"), [
    (_inv(), 0, "greater than zero"),
    (_inv(), -100, "greater than zero"),
    (_inv(), 10001, "more than"),
    (_inv(amount_pending=5000), 6000, "more than"),
    (_inv(), 1999, "smallest payment"),
    (_inv(allow_partial=False, min_partial_amount=None), 5000, "paid in full"),
    (_inv(min_partial_amount=None), 49, r"at least \$0\.50"),
    (_inv(voided=True), None, "void"),
    (_inv(amount_paid=10000), None, "nothing left"),
    (_inv(amount_pending=10000), None, "still clearing"),
    (_inv(currency="BHD", total=10005, min_partial_amount=None), 5005, "end in 0"),
    (_inv(currency="ISK", total=10000), None, "not available"),
])
def test_bad_amounts_are_refused_with_a_reason(invoice, amount, message):
    with pytest.raises(AmountError, match=message):
        check_amount(invoice, amount)


def test_a_partial_amount_within_the_rules_is_accepted():
    assert check_amount(_inv(), 2000) == 2000
    # What is left may be below the invoice's minimum: paying it off is always allowed.
    assert check_amount(_inv(amount_paid=9000), None) == 1000


def test_one_checkout_takes_one_currency():
    with pytest.raises(AmountError, match="different currencies"):
        check_together([_inv(), _inv(invoice_id=2, currency="EUR")], [100, 100])

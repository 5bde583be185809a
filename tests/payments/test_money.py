from decimal import Decimal

import pytest

from payments.money import EXPONENTS, exponent, format_money, is_currency, to_decimal


@pytest.mark.parametrize(("code", "digits"), [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2),
                                              ("BHD", 3), ("KWD", 3), ("CLF", 4)])
def test_iso_4217_exponents(code, digits):
    assert exponent(code) == digits


def test_unknown_and_lowercase_codes_are_not_currencies():
    assert not is_currency("XYZ")
    assert not is_currency("usd")
    with pytest.raises(ValueError, match="unknown ISO 4217"):
        exponent("XYZ")


def test_every_code_is_three_upper_case_letters():
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in EXPONENTS)
    assert len(EXPONENTS) > 150


def test_to_decimal_is_exact_and_refuses_floats():
    assert to_decimal(1, "BHD") == Decimal("0.001")
    assert to_decimal(123456789012345, "USD") == Decimal("1234567890123.45")
    with pytest.raises(TypeError):
        to_decimal(10.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_decimal(True, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(("amount", "currency", "locale", "shown"), [
    (123456, "USD", "en_US", "$1,234.56"),
    (5000, "JPY", "en_US", "¥5,000"),
    (1234, "BHD", "en_US", "BHD1.234"),
    (123456, "EUR", "de_DE", "1.234,56\xa0€"),
    (-250, "USD", "en_US", "-$2.50"),
    (100, "HUF", "en_US", "HUF1.00"),  # ISO 4217 says 2 decimals even where CLDR says 0
])
def test_format_money_uses_iso_digits_and_locale_layout(amount, currency, locale, shown):
    assert format_money(amount, currency, locale) == shown

"""Money as integer minor units plus an ISO 4217 currency code.

The exponent table is ISO 4217's list of active codes (amendment 179). Babel's CLDR data is
deliberately not used for exponents: CLDR rounds some currencies differently from ISO 4217
(e.g. it gives HUF and TWD 0 cash digits), and invoices must agree with the ERP to the unit.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import parse_pattern

_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMAL = "CLF UYW"
_TWO_DECIMAL = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)

EXPONENTS: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMAL.split()},
    **{code: 2 for code in _TWO_DECIMAL.split()},
    **{code: 3 for code in _THREE_DECIMAL.split()},
    **{code: 4 for code in _FOUR_DECIMAL.split()},
}

# Largest amount we accept anywhere: fits a signed 64-bit column with room for sums.
MAX_AMOUNT = 10**15


def is_currency(code: str) -> bool:
    """True if ``code`` is an active ISO 4217 alphabetic code (upper case)."""
    return code in EXPONENTS


def exponent(currency: str) -> int:
    """Number of minor-unit digits of ``currency`` (JPY 0, USD 2, BHD 3)."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise ValueError(f"unknown ISO 4217 currency: {currency!r}") from None


def to_decimal(amount: int, currency: str) -> Decimal:
    """Exact major-unit value of ``amount`` minor units, for display only."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError("amounts are integer minor units")
    return Decimal(amount).scaleb(-exponent(currency))


def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    """Human display of a minor-unit amount, e.g. ``format_money(123456, "USD") == "$1,234.56"``.

    The locale decides symbol placement and separators; the number of decimals shown is the
    ISO 4217 exponent, not CLDR's, so what the customer reads matches the ERP to the unit.
    """
    pattern, babel_locale = _pattern(locale, exponent(currency))
    return pattern.apply(
        to_decimal(amount, currency), babel_locale, currency=currency, currency_digits=False
    )


@lru_cache(maxsize=64)
def _pattern(locale: str, digits: int):
    # Parsing locale data is slow; pages format a dozen amounts per request.
    babel_locale = Locale.parse(locale)
    pattern = parse_pattern(babel_locale.currency_formats["standard"].pattern)
    pattern.frac_prec = (digits, digits)
    return pattern, babel_locale

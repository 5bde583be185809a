"""Stripe's documented test payment details and what each one does.

Cards: https://docs.stripe.com/testing ; US bank accounts (routing 110000000):
https://docs.stripe.com/payments/ach-direct-debit (test account numbers) ; ACH return codes
with the failure codes Stripe reports for them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CardBehaviour:
    """What paying with a test card does."""

    outcome: str  # "succeed", "decline", "authenticate", "dispute"
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    funding: str = "credit"


DECLINED = "Your card was declined."
CARDS: dict[str, CardBehaviour] = {
    "4242424242424242": CardBehaviour("succeed"),
    "4000056655665556": CardBehaviour("succeed", funding="debit"),
    "5555555555554444": CardBehaviour("succeed"),
    "378282246310005": CardBehaviour("succeed"),
    "4000000000000002": CardBehaviour("decline", "card_declined", "generic_decline", DECLINED),
    "4000000000009995": CardBehaviour("decline", "card_declined", "insufficient_funds",
                                      "Your card has insufficient funds."),
    "4000000000009987": CardBehaviour("decline", "card_declined", "lost_card", DECLINED),
    "4000000000009979": CardBehaviour("decline", "card_declined", "stolen_card", DECLINED),
    "4000000000000069": CardBehaviour("decline", "expired_card", "expired_card",
                                      "Your card has expired."),
    "4000000000000127": CardBehaviour("decline", "incorrect_cvc", "incorrect_cvc",
                                      "Your card's security code is incorrect."),
    "4000000000000119": CardBehaviour("decline", "processing_error", "processing_error",
                                      "An error occurred while processing your card. "
                                      "Try again in a little bit."),
    "4000002500003155": CardBehaviour("authenticate"),
    "4000000000003220": CardBehaviour("authenticate"),
    "4000000000000259": CardBehaviour("dispute"),
}

TEST_ROUTING_NUMBER = "110000000"
MICRODEPOSIT_AMOUNTS = (32, 45)
MICRODEPOSIT_DESCRIPTOR = "SM11AA"


@dataclass(frozen=True)
class ReturnCode:
    """An ACH return code and the failure code Stripe reports for it."""

    code: str
    failure_code: str
    message: str


RETURN_CODES: dict[str, ReturnCode] = {r.code: r for r in (
    ReturnCode("R01", "insufficient_funds",
               "The customer's account has insufficient funds to cover this payment."),
    ReturnCode("R02", "account_closed", "The customer's bank account has been closed."),
    ReturnCode("R03", "no_account", "The customer's bank account could not be located."),
    ReturnCode("R04", "invalid_account_number", "The customer's account number is invalid."),
    ReturnCode("R05", "debit_not_authorized", "The customer has not authorized this debit."),
    ReturnCode("R07", "debit_not_authorized", "The customer revoked the authorization."),
    ReturnCode("R08", "debit_not_authorized", "The customer stopped this payment."),
    ReturnCode("R09", "insufficient_funds", "The customer's funds are uncollected."),
    ReturnCode("R10", "debit_not_authorized",
               "The customer says this debit was not authorized."),
    ReturnCode("R16", "account_frozen", "The customer's bank account is frozen."),
    ReturnCode("R20", "bank_account_restricted",
               "The customer's account does not allow this debit."),
    ReturnCode("R29", "debit_not_authorized",
               "The customer's business says this debit was not authorized."),
)}


@dataclass(frozen=True)
class BankBehaviour:
    """What a test bank account number does once its ACH debit is resolved."""

    outcome: str  # "succeed", "fail", "dispute"
    return_code: str | None = None
    description: str = ""


BANK_ACCOUNTS: dict[str, BankBehaviour] = {
    "000123456789": BankBehaviour("succeed", None, "The payment succeeds."),
    "000111111113": BankBehaviour("fail", "R02", "Fails: the account is closed."),
    "000111111116": BankBehaviour("fail", "R03", "Fails: no account is found."),
    "000222222227": BankBehaviour("fail", "R01", "Fails: insufficient funds."),
    "000333333335": BankBehaviour("fail", "R10", "Fails: debits aren't authorized."),
    "000555555559": BankBehaviour("dispute", None, "Succeeds, then is disputed."),
}


def brand(number: str) -> str:
    """The card network of a test card number."""
    if number.startswith(("34", "37")):
        return "amex"
    if number.startswith("5"):
        return "mastercard"
    return "visa"


def luhn_valid(number: str) -> bool:
    """Whether ``number`` passes the Luhn check every card number passes."""
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return len(number) >= 12 and total % 10 == 0

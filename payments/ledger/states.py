"""The names the ledger writes, as enums: a payment's status and the state machine it moves
by, the kinds of ledger entries, and the kinds of exceptions reconciliation raises.

They are :class:`~enum.StrEnum`\\ s: each member is its database string, so rows, JSON and
templates see plain strings and comparisons with literals keep working.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    """A payment as Stripe's PaymentIntent has it (``processing`` is pending)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


# The payment state machine only moves forward. A stale "processing" after "succeeded" (an old
# event, a slow retry) changes nothing; a card retried after an ACH failure may still succeed.
FORWARD: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED,
                                      PaymentStatus.CANCELED}),
    PaymentStatus.FAILED: frozenset({PaymentStatus.SUCCEEDED}),
    PaymentStatus.CANCELED: frozenset(),
    PaymentStatus.SUCCEEDED: frozenset(),
}


def advance(current: str, new: str) -> PaymentStatus:
    """The status after seeing ``new``: ``new`` if the machine allows the move, else ``current``."""
    current, new = PaymentStatus(current), PaymentStatus(new)
    return new if new in FORWARD[current] else current


class LedgerKind(StrEnum):
    """What a ledger entry records. ``REALLOCATION`` and ``CREDIT_TRANSFER`` are staff moves of
    a payment's money (the exceptions queue): they carry the payment in ``staff_payment_id``,
    never in ``payment_id``, which the convergent ledger owns. ``ADJUSTMENT`` is a write-off
    or a disputed invoice's new amount due, nobody's money; ``CREDIT_NOTE`` is a numbered
    credit that resolved a dispute (``payments.disputes``)."""

    PENDING = "pending"
    PENDING_RELEASED = "pending_released"
    PAYMENT = "payment"
    PAYMENT_REVERSED = "payment_reversed"
    REFUND = "refund"
    REFUND_REVERSED = "refund_reversed"
    DISPUTE_WITHDRAWAL = "dispute_withdrawal"
    DISPUTE_REINSTATEMENT = "dispute_reinstatement"
    ADJUSTMENT = "adjustment"
    REALLOCATION = "reallocation"
    CREDIT_TRANSFER = "credit_transfer"
    CREDIT_NOTE = "credit_note"


class ExceptionKind(StrEnum):
    """What reconciliation could not settle alone, for staff to resolve."""

    OVERPAYMENT = "overpayment"
    VOIDED_INVOICE = "voided_invoice"
    CURRENCY_MISMATCH = "currency_mismatch"
    UNMATCHED_PAYMENT = "unmatched_payment"
    REVERSAL_AFTER_CONFIRMATION = "reversal_after_confirmation"

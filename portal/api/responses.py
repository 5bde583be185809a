"""The shapes the API returns, as pydantic models: the OpenAPI document is generated from them
and the tests validate real responses against that document.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerOut(_Out):
    """The invoice's customer, with the link to their statement of open invoices."""

    id: int
    external_id: str
    name: str
    email: str | None
    statement_url: str | None


class LineOut(_Out):
    """An invoice line as stored (quantity is a decimal string)."""

    description: str
    quantity: str | None
    unit_amount: int | None
    amount: int


class InvoiceOut(_Out):
    """An invoice with its balances (minor units) and the customer-facing URLs."""

    id: int
    external_id: str
    number: str
    status: Literal["open", "partially_paid", "overdue", "paid", "void"]
    days_overdue: int
    currency: str
    issue_date: date
    due_date: date
    terms: str | None
    memo: str | None
    lines: list[LineOut]
    subtotal: int
    tax_amount: int
    total: int
    amount_paid: int
    amount_credited: int  # of amount_paid: settled by credit notes and adjustments, not money
    amount_pending: int
    amount_due: int
    allow_partial: bool
    min_partial_amount: int | None
    revision: int
    pay_url: str | None
    pdf_url: str | None
    qr_svg_url: str | None
    pay_url_expires_at: datetime | None
    customer: CustomerOut
    created_at: datetime
    updated_at: datetime
    voided_at: datetime | None


class InvoiceList(_Out):
    """One page of invoices; pass ``next_cursor`` as ``cursor`` for the next page."""

    data: list[InvoiceOut]
    has_more: bool
    next_cursor: str | None


class AllocationOut(_Out):
    """Where a payment's money went: one invoice, or (``invoice_id`` null) money on no invoice
    yet. ``net_amount`` is ``amount`` less the refunds and dispute withdrawals it bore."""

    invoice_id: int | None
    external_id: str | None
    number: str | None
    amount: int
    net_amount: int


class PaymentOut(_Out):
    """A payment (one Stripe PaymentIntent) and the invoices it pays, in minor units.

    ``status`` ``pending`` is an ACH debit still clearing; ``confirmed_at`` is set once AR staff
    confirmed the money landed on the right invoices.
    """

    id: int
    payment_intent_id: str
    charge_id: str | None
    status: Literal["pending", "succeeded", "failed", "canceled"]
    method: str | None
    currency: str
    amount: int
    amount_refunded: int
    amount_disputed: int
    confirmed_at: datetime | None
    confirmed_by: str | None
    created_at: datetime
    allocations: list[AllocationOut]


class PaymentList(_Out):
    """One page of payments; pass ``next_cursor`` as ``cursor`` for the next page."""

    data: list[PaymentOut]
    has_more: bool
    next_cursor: str | None


class InvoiceRef(_Out):
    """The invoice a dispute or credit note is about."""

    id: int
    external_id: str
    number: str


class CustomerRef(_Out):
    """The customer a dispute or credit note belongs to."""

    id: int
    external_id: str
    name: str


class DisputeLineOut(_Out):
    """An invoice line the customer disputes, as it read when the dispute was raised."""

    position: int
    description: str
    amount: int


class DisputeMessageOut(_Out):
    """A message of the thread the customer sees (``author``: the staff member, or null for
    the customer). Staff's internal notes are never in the API."""

    id: int
    from_: Literal["customer", "staff"] = Field(alias="from")
    author: str | None
    body: str
    created_at: datetime


class AttachmentOut(_Out):
    """A file the customer sent: its metadata only (the file itself stays in the portal)."""

    id: int
    filename: str
    content_type: Literal["application/pdf", "image/png", "image/jpeg"]
    size: int
    sha256: str


class ResolutionOut(_Out):
    """How staff resolved a dispute: ``credit_note_id`` for a credit, ``new_amount_due`` for
    an adjustment, ``new_due_date`` when the due date moved."""

    outcome_note: str | None
    new_due_date: date | None
    new_amount_due: int | None
    credit_note_id: int | None
    resolved_at: datetime | None
    resolved_by: str | None


class DisputeOut(_Out):
    """A customer's dispute of (lines of) one invoice, its thread, and its resolution (null
    until resolved). ``amount`` is what is in dispute, in minor units."""

    id: int
    status: Literal["open", "under_review", "resolved"]
    outcome: Literal["credited", "adjusted", "rejected", "voided"] | None
    reason: Literal["pricing", "quantity", "damaged", "not_received", "duplicate",
                    "already_paid", "tax", "other"]
    reason_text: str
    currency: str
    amount: int
    invoice: InvoiceRef
    customer: CustomerRef
    lines: list[DisputeLineOut]
    messages: list[DisputeMessageOut]
    attachments: list[AttachmentOut]
    resolution: ResolutionOut | None
    created_at: datetime
    updated_at: datetime


class DisputeList(_Out):
    """One page of disputes; pass ``next_cursor`` as ``cursor`` for the next page."""

    data: list[DisputeOut]
    has_more: bool
    next_cursor: str | None


class CreditNoteLineOut(_Out):
    """A line of a credit note."""

    description: str
    amount: int


class CreditNoteOut(_Out):
    """A numbered credit against one invoice (``amount`` in minor units lowers what is owed
    on it); ``pdf_url`` needs the API key like every other endpoint."""

    id: int
    number: str
    currency: str
    amount: int
    reason: str
    lines: list[CreditNoteLineOut]
    invoice: InvoiceRef
    customer: CustomerRef
    dispute_id: int | None
    invoice_due_after: int  # what the invoice owed once this credit applied
    created_at: datetime
    created_by: str
    pdf_url: str


class CreditNoteList(_Out):
    """One page of credit notes; pass ``next_cursor`` as ``cursor`` for the next page."""

    data: list[CreditNoteOut]
    has_more: bool
    next_cursor: str | None


class ErrorDetail(_Out):
    """What went wrong; ``fields`` maps a field path (``lines.3.amount``) to its message."""

    code: str
    message: str
    fields: dict[str, str]


class ErrorOut(_Out):
    """Every error the API returns."""

    error: ErrorDetail

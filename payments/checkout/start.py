"""Starting a payment: record the attempt and its allocations first, then open (or reuse) a
Stripe Checkout Session for exactly those amounts.

A double click, a reload or a second tab with the same invoices and amounts finds the same open
attempt and, through its idempotency key, the same Checkout Session. A new attempt for any of
those invoices supersedes the old one: its session is expired at Stripe so it cannot be paid too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from payments.checkout.models import Allocation, AttemptStatus, PaymentAttempt
from payments.clock import utcnow
from payments.db import Database
from payments.invoicing.models import Customer, Invoice
from payments.stripe.gateway import ATTEMPT_METADATA_KEY, StripeGateway

REUSE_MARGIN = timedelta(minutes=5)  # don't send a customer to a session about to expire


@dataclass
class Begun:
    """The attempt to pay with, whether it was reused, and the open attempts it supersedes."""

    attempt: PaymentAttempt
    reused: bool
    superseded: list[tuple[str, str]] = field(default_factory=list)  # (reference, session id)


def fingerprint(currency: str, allocations: list[tuple[int, int]]) -> str:
    """Identifies "the same invoices and amounts", whatever order they were chosen in."""
    parts = [currency, *(f"{inv}:{amt}" for inv, amt in sorted(allocations))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def begin(session: Session, customer_id: int, currency: str,
          allocations: list[tuple[int, int]]) -> Begun:
    """Find the open attempt for these allocations or record a new one (in the caller's
    transaction, which holds the customer's row lock so two clicks cannot both create one)."""
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    fp = fingerprint(currency, allocations)
    now = utcnow()
    for attempt in session.scalars(select(PaymentAttempt).where(
            PaymentAttempt.customer_id == customer_id, PaymentAttempt.status == AttemptStatus.OPEN,
            PaymentAttempt.fingerprint == fp).order_by(PaymentAttempt.id.desc())):
        if attempt.expires_at is None or attempt.expires_at > now + REUSE_MARGIN:
            return Begun(attempt, reused=True)
    invoice_ids = {inv for inv, _ in allocations}
    superseded = session.scalars(select(PaymentAttempt).where(
        PaymentAttempt.customer_id == customer_id, PaymentAttempt.status == AttemptStatus.OPEN,
        PaymentAttempt.allocations.any(Allocation.invoice_id.in_(invoice_ids)))).all()
    attempt = PaymentAttempt(
        reference="pa_" + secrets.token_urlsafe(18), customer_id=customer_id, currency=currency,
        amount=sum(amt for _, amt in allocations), fingerprint=fp, status=AttemptStatus.OPEN,
        allocations=[Allocation(invoice_id=inv, amount=amt) for inv, amt in allocations])
    session.add(attempt)
    session.flush()
    return Begun(attempt, reused=False, superseded=[
        (old.reference, old.checkout_session_id) for old in superseded
        if old.checkout_session_id])


@dataclass(frozen=True)
class SessionRequest:
    """Everything Stripe needs for one Checkout Session, gathered before any call is made."""

    reference: str
    currency: str
    lines: list[tuple[str, int]]  # (label, amount)
    customer: str  # Stripe customer id
    success_url: str
    cancel_url: str
    bank_transfers: bool = False

    def params(self) -> dict[str, Any]:
        """The Checkout Session parameters, amounts exactly as the portal computed them."""
        methods = ["card"]
        options: dict[str, Any] = {}
        if self.currency == "USD":
            # Instant verification through the bank, with microdeposits as the fallback.
            methods.append("us_bank_account")
            options["us_bank_account"] = {"verification_method": "automatic"}
            if self.bank_transfers:
                methods.append("customer_balance")
                options["customer_balance"] = {"funding_type": "bank_transfer",
                                               "bank_transfer": {"type": "us_bank_transfer"}}
        labels = ", ".join(label for label, _ in self.lines)
        metadata = {ATTEMPT_METADATA_KEY: self.reference}
        return {
            "mode": "payment", "customer": self.customer, "client_reference_id": self.reference,
            "line_items": [{"quantity": 1, "price_data": {
                "currency": self.currency.lower(), "unit_amount": amount,
                "product_data": {"name": label}}} for label, amount in self.lines],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata, "description": labels[:500]},
            "payment_method_types": methods, "payment_method_options": options,
            "success_url": self.success_url, "cancel_url": self.cancel_url,
        }


def stripe_customer(session_factory, gateway: StripeGateway, customer_id: int) -> str:
    """The customer's Stripe id, creating the Stripe Customer once and remembering it."""
    with session_factory() as session:
        customer = session.get(Customer, customer_id)
        if customer.stripe_customer_id:
            return customer.stripe_customer_id
        params = {"name": customer.name, "metadata": {"portal_customer": customer.external_id}}
        if customer.email:
            params["email"] = customer.email
    created = gateway.create_customer(params, idempotency_key=f"portal-customer-{customer_id}")
    with session_factory() as session, session.begin():
        session.execute(update(Customer).where(Customer.id == customer_id,
                                               Customer.stripe_customer_id.is_(None))
                        .values(stripe_customer_id=created["id"]))
    return created["id"]


def open_session(gateway: StripeGateway, request: SessionRequest) -> dict[str, Any]:
    """Create the Checkout Session; the same attempt always gets the same session back."""
    return gateway.create_checkout_session(request.params(),
                                           idempotency_key=f"{request.reference}:session")


def remember_session(session: Session, reference: str, checkout: dict[str, Any]) -> None:
    """Store the session's id, URL and expiry on its attempt."""
    session.execute(update(PaymentAttempt).where(PaymentAttempt.reference == reference).values(
        checkout_session_id=checkout["id"], checkout_url=checkout["url"],
        expires_at=datetime.fromtimestamp(checkout["expires_at"], UTC)
        if checkout.get("expires_at") else None))


def expire_superseded(session_factory, gateway: StripeGateway,
                      superseded: list[tuple[str, str]]) -> None:
    """Expire the sessions of attempts a new attempt replaces, so only one can be paid."""
    for reference, session_id in superseded:
        if gateway.expire_checkout_session(session_id, f"{reference}:expire") is None:
            continue  # it completed meanwhile: the events will tell what it paid
        with session_factory() as session, session.begin():
            session.execute(update(PaymentAttempt).where(
                PaymentAttempt.reference == reference, PaymentAttempt.status == AttemptStatus.OPEN)
                .values(status=AttemptStatus.EXPIRED))


def open_sessions(session: Session, invoice_id: int) -> list[tuple[str, str]]:
    """(reference, Checkout Session id) of the open attempts that would pay ``invoice_id``:
    what to expire when what may be paid on it changes (a dispute raised)."""
    return [(reference, session_id) for reference, session_id in session.execute(
        select(PaymentAttempt.reference, PaymentAttempt.checkout_session_id)
        .join(Allocation, Allocation.attempt_id == PaymentAttempt.id)
        .where(Allocation.invoice_id == invoice_id, PaymentAttempt.status == AttemptStatus.OPEN,
               PaymentAttempt.checkout_session_id.is_not(None)))]


def line_label(invoice: Invoice, amount: int) -> str:
    """How an invoice appears on the Checkout page."""
    part = "" if amount >= invoice.total - invoice.amount_paid - invoice.amount_pending else \
        " (part payment)"
    return f"Invoice {invoice.number}{part}"


@dataclass(frozen=True)
class Started:
    """Where to send the customer (the Checkout Session's URL), and the attempt's reference."""

    reference: str
    url: str


def start_checkout(db: Database, gateway: StripeGateway, customer_id: int, currency: str,
                   allocations: list[tuple[int, int]], base_url: str,
                   bank_transfers: bool = False) -> Started:
    """Record (or reuse) the attempt, then open its Checkout Session (expiring the sessions it
    supersedes first); no database lock is held while Stripe is called. Success and cancel URLs
    under ``base_url`` carry only the attempt's reference, never a pay token."""

    def record(session: Session) -> tuple[Begun, list[tuple[str, int]]]:
        begun = begin(session, customer_id, currency, allocations)
        invoices = {inv.id: inv for inv in session.scalars(
            select(Invoice).where(Invoice.id.in_([i for i, _ in allocations])))}
        return begun, [(line_label(invoices[i], amt), amt) for i, amt in allocations]

    begun, labels = db.run(record)
    reference = begun.attempt.reference
    if begun.attempt.checkout_url:
        return Started(reference, begun.attempt.checkout_url)  # a double click, a second tab
    expire_superseded(db.writer, gateway, begun.superseded)
    base = base_url.rstrip("/")
    created = open_session(gateway, SessionRequest(
        reference=reference, currency=currency, lines=labels,
        customer=stripe_customer(db.writer, gateway, customer_id),
        success_url=f"{base}/pay/{reference}/return", cancel_url=f"{base}/pay/{reference}/cancel",
        bank_transfers=bank_transfers))
    with db.transaction() as session:
        remember_session(session, reference, created)
    return Started(reference, created["url"])

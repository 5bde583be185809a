"""The ERP export of confirmed payments: one row per allocation, as CSV safe to open in a
spreadsheet.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from payments.confirmations.queue import Described, describe
from payments.ledger.models import Payment

EXPORT_BATCH = 200


EXPORT_COLUMNS = ("payment_id", "confirmed_at", "confirmed_by", "invoice_external_id",
                  "invoice_number", "amount", "net_amount", "currency", "method",
                  "payment_intent_id", "charge_id")


@dataclass(frozen=True)
class ExportRow:
    """One allocation of a confirmed payment, as the ERP imports it (amounts in minor units;
    ``net_amount`` is ``amount`` less the refunds and withdrawals it bore)."""

    payment_id: int
    confirmed_at: datetime
    confirmed_by: str | None
    invoice_external_id: str | None
    invoice_number: str | None
    amount: int
    net_amount: int
    currency: str
    method: str | None
    payment_intent_id: str
    charge_id: str | None

    def values(self) -> list[Any]:
        """The row in :data:`EXPORT_COLUMNS` order."""
        return [self.payment_id, self.confirmed_at.isoformat(), self.confirmed_by or "",
                self.invoice_external_id or "", self.invoice_number or "", self.amount,
                self.net_amount, self.currency, self.method or "", self.payment_intent_id,
                self.charge_id or ""]


def export_confirmed(session: Session, since: datetime | None = None) -> Iterator[ExportRow]:
    """Confirmed payments (confirmed at or after ``since``), oldest confirmation first, one
    row per allocation plus one for any money on no invoice; read in batches (keyset)."""
    after: tuple[datetime, int] | None = None
    while True:
        query = select(Payment).where(Payment.confirmed_at.is_not(None))
        if since is not None:
            query = query.where(Payment.confirmed_at >= since)
        if after is not None:
            query = query.where(or_(Payment.confirmed_at > after[0],
                                    and_(Payment.confirmed_at == after[0],
                                         Payment.id > after[1])))
        batch = session.scalars(query.order_by(Payment.confirmed_at, Payment.id)
                                .limit(EXPORT_BATCH)).all()
        for described in describe(session, batch):
            yield from _rows(described)
        if len(batch) < EXPORT_BATCH:
            return
        after = (batch[-1].confirmed_at, batch[-1].id)


def _rows(described: Described) -> Iterator[ExportRow]:
    p = described.payment
    for line in described.lines:
        yield ExportRow(p.id, p.confirmed_at, p.confirmed_by, line.invoice_external_id,
                        line.invoice_number, line.amount, line.net, p.currency, p.method,
                        p.payment_intent_id, p.charge_id)


def write_csv(rows: Iterable[ExportRow], out: TextIO) -> int:
    """Write ``rows`` as CSV with a header line; returns how many rows were written.

    Values are written as they are (no spreadsheet-formula escaping): the file is for the
    ERP's importer, which must get the invoice numbers exactly as it sent them.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(row.values())
        count += 1
    return count

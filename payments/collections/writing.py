"""Writing a batch of customers' reminders in one transaction, with a fixed number of
statements however many customers and invoices it holds (a tick on a large book is a few
hundred round trips, not tens of thousands).

:func:`apply` locks the batch's invoices (in id order: two ticks lock alike and never
deadlock each other), re-reads what another tick may have done meanwhile, applies the stop
rules, and writes the contacts (one per customer, channel and local day: the unique index
settles a race), the steps they cover and the ones skipped, the emails in the outbox, and each
invoice's last done step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.collections import compose, stops, templates
from payments.collections.log_models import Contact, ContactItem
from payments.collections.models import InvoiceChase
from payments.collections.planner import Chased, Decision, Person, Planned
from payments.db import among
from payments.disputes import reads as dispute_reads
from payments.invoicing.models import Invoice
from payments.outbox import outbox

Work = Mapping[int, Sequence[tuple[Chased, Decision]]]  # customer id → its invoices' decisions


@dataclass
class Done:
    """What one batch wrote (the tick adds them up once the batch committed)."""

    emails: list[int] = field(default_factory=list)
    tasks: int = 0
    skipped: int = 0
    stopped: int = 0


@dataclass
class _Batch:
    items: list[dict] = field(default_factory=list)
    last: dict[int, int | None] = field(default_factory=dict)
    fallback: dict[int, int | None] = field(default_factory=dict)
    acts: dict[tuple[int, str], list[Planned]] = field(default_factory=dict)

    def item(self, planned: Planned, contact_id: int | None, outcome: str, why: str) -> int:
        self.items.append({"invoice_id": planned.invoice_id, "offset_days": planned.step.offset,
                           "contact_id": contact_id, "outcome": outcome,
                           "planned_at": planned.at, "why": why[:4000], "created_at": utcnow()})
        return planned.step.offset


def apply(session: Session, writer: compose.Writer, persons: Mapping[int, Person], work: Work,
          now: datetime, words: Mapping[str, templates.Words]) -> Done:
    """Check and record the decisions of ``work``'s customers (see the module)."""
    today = {cid: persons[cid].rules.local(now).date() for cid in work}
    ids = sorted(invoice.invoice_id for decisions in work.values() for invoice, _ in decisions)
    invoices = stops.load(session, ids, lock=True)
    stopped = stops.check(session, invoices, today, ids)
    done = dict(session.execute(select(InvoiceChase.invoice_id, InvoiceChase.last_offset)
                                .where(among(session, InvoiceChase.invoice_id, ids))).all())
    batch, result = _Batch(), Done()
    for cid, decisions in work.items():
        for invoice, decision in decisions:
            if done.get(invoice.invoice_id) != invoice.last_offset:
                continue  # another tick got here first: its record stands
            if invoice.invoice_id in stopped:
                result.stopped += 1
                continue
            result.skipped += len(decision.skipped)
            batch.last[invoice.invoice_id] = decision.last_offset
            # Should its contact not be written today, it is done up to its skips only.
            batch.fallback[invoice.invoice_id] = _skipped(batch, decision, invoice.last_offset)
            if decision.act is not None:
                batch.acts.setdefault((cid, decision.act.channel), []).append(decision.act)
    contacts = _contacts(session, batch, today)
    _letters(session, writer, persons, {i.id: i for i in invoices}, batch, contacts, today,
             words, result)
    _finish(session, batch)
    return result


def _skipped(batch: _Batch, decision: Decision, last: int | None) -> int | None:
    """Record the steps the decision skips as one item, at the latest of them (an invoice
    taken on long overdue skips several at once; the invoice is done up to it), with each
    step's reason; the offset the invoice is done up to without its act."""
    if not decision.skipped:
        return last
    latest = max((p for p, _why in decision.skipped), key=lambda p: p.step.offset)
    why = "; ".join(f"{p.step.words()} skipped: {reason}" for p, reason in decision.skipped)
    return batch.item(latest, None, "skipped", why)


def _contacts(session: Session, batch: _Batch, today: Mapping[int, date]
              ) -> dict[tuple[int, str], int]:
    """Insert the batch's contacts; those a customer already has today are not written, and
    their steps wait for tomorrow."""
    if not batch.acts:
        return {}
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    rows = [{"customer_id": cid, "channel": channel, "day": today[cid],
             "status": "queued" if channel == "email" else "open",
             "why": "\n".join(p.words() for p in planned), "created_at": utcnow()}
            for (cid, channel), planned in batch.acts.items()]
    # executemany with RETURNING (SQLAlchemy's "insertmanyvalues"): compiled once, sent in
    # batches, however many rows.
    statement = (dialect.insert(Contact.__table__).on_conflict_do_nothing(
        index_elements=["customer_id", "channel", "day"],
        index_where=text("status <> 'canceled'"))
        .returning(Contact.customer_id, Contact.channel, Contact.id))
    written = {(cid, channel): contact_id
               for cid, channel, contact_id in session.execute(statement, rows)}
    for key, planned in batch.acts.items():
        for p in planned:
            if key in written:
                batch.item(p, written[key], "contacted", p.words())
            else:
                batch.last[p.invoice_id] = batch.fallback[p.invoice_id]
    return written


def _letters(session: Session, writer: compose.Writer, persons: Mapping[int, Person],
             invoices: Mapping[int, Invoice], batch: _Batch,
             contacts: Mapping[tuple[int, str], int], today: Mapping[int, date],
             words: Mapping[str, templates.Words], result: Done) -> None:
    """Write each contact's text, and queue the emails."""
    if not contacts:
        return
    links, statements = compose.live_links(
        session, writer.links, [p.invoice_id for key in contacts for p in batch.acts[key]],
        sorted({cid for cid, _channel in contacts}))
    disputed = dispute_reads.active_amounts(
        session, [p.invoice_id for key in contacts for p in batch.acts[key]])
    updates, drafts = [], {}
    for (cid, channel), contact_id in contacts.items():
        planned = batch.acts[(cid, channel)]
        mine = sorted((invoices[p.invoice_id] for p in planned), key=lambda i: (i.due_date, i.id))
        letter = compose.write(writer, persons[cid], mine, planned, today[cid], words, links,
                               statements[cid], disputed)
        updates.append({"c_id": contact_id, "c_subject": letter.subject,
                        "c_body": letter.text, "c_to": None, "c_email": None})
        if channel == "email":
            key = f"reminder:{contact_id}"
            drafts[key] = (compose.draft(key, persons[cid], letter), updates[-1])
        else:
            result.tasks += 1
    queued = outbox.queue_many(session, [d for d, _ in drafts.values()])
    for key, (draft, row) in drafts.items():
        row["c_to"], row["c_email"] = draft.to, queued[key]
        result.emails.append(queued[key])
    table = Contact.__table__
    session.execute(update(table).where(table.c.id == bindparam("c_id"))
                    .values(subject=bindparam("c_subject"), body=bindparam("c_body"),
                            to_address=bindparam("c_to"),
                            outbox_email_id=bindparam("c_email")), updates)


def _finish(session: Session, batch: _Batch) -> None:
    """The steps done, and each invoice's last done step."""
    if batch.items:
        # Core, not the ORM's bulk insert: the first tick on a large book writes a row per
        # stale step of every overdue invoice.
        session.execute(insert(ContactItem.__table__), batch.items)
    if batch.last:
        now = utcnow()
        session.execute(_ADVANCE[session.bind.dialect.name], [
            {"invoice_id": i, "last_offset": offset, "do_not_chase": False, "updated_at": now}
            for i, offset in batch.last.items()])


_ADVANCE = {name: dialect.insert(InvoiceChase.__table__).on_conflict_do_update(
    index_elements=["invoice_id"], set_={"last_offset": text("excluded.last_offset"),
                                         "updated_at": text("excluded.updated_at")})
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}

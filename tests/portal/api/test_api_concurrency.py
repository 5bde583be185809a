"""Concurrent API requests with real threads, each with its own test client and database
connection: an ERP that retries, or pushes from several workers, must never create duplicates.

Holds on SQLite because writers begin with ``BEGIN IMMEDIATE`` and queue; holds on PostgreSQL
because ``Database.run`` retries the loser of a unique-constraint race, which then finds the
winner's rows. Run with PORTAL_TEST_DATABASE_URL set to test the PostgreSQL path.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select

from payments.invoicing.models import Customer, Invoice, InvoiceLine
from payments.links.models import PayLink
from tests.factories import invoice_body

THREADS = 10


def run_concurrently(app, api_key: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """POST each body from its own thread and client, all released at once; return
    ``(status, json)`` per body, in order. Any exception in a thread fails the test."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, dict] | BaseException | None] = [None] * len(bodies)

    def worker(i: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            response = client.post("/api/v1/invoices", json=bodies[i],
                                   headers={"Authorization": f"Bearer {api_key}"})
            results[i] = (response.status_code, response.get_json())
        except BaseException as exc:  # reported below, on the main thread
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def count(db, model, *where) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def active_links(db, target: Callable) -> int:
    return count(db, PayLink, PayLink.revoked_at.is_(None), target())


def test_the_same_new_invoice_posted_at_once_is_created_once(app, db, api_key):
    results = run_concurrently(app, api_key, [invoice_body() for _ in range(THREADS)])
    statuses = Counter(status for status, _body in results)
    assert statuses == {201: 1, 200: THREADS - 1}, results
    assert len({body["id"] for _status, body in results}) == 1
    assert len({body["pay_url"] for _status, body in results}) == 1
    assert {body["revision"] for _status, body in results} == {1}
    assert count(db, Invoice) == 1
    assert count(db, Customer) == 1
    assert count(db, InvoiceLine) == 2
    assert active_links(db, lambda: PayLink.invoice_id.is_not(None)) == 1
    assert active_links(db, lambda: PayLink.customer_id.is_not(None)) == 1
    assert count(db, PayLink) == 2  # nobody issued and then revoked a spare link


def test_different_invoices_of_one_new_customer_create_the_customer_once(app, db, api_key):
    bodies = [invoice_body(external_id=f"ERP-{i}", number=f"INV-{i}") for i in range(THREADS)]
    results = run_concurrently(app, api_key, bodies)
    assert [status for status, _body in results] == [201] * THREADS, results
    assert len({body["id"] for _status, body in results}) == THREADS
    assert len({body["customer"]["id"] for _status, body in results}) == 1
    assert len({body["customer"]["statement_url"] for _status, body in results}) == 1
    assert count(db, Invoice) == THREADS
    assert count(db, Customer) == 1
    assert active_links(db, lambda: PayLink.customer_id.is_not(None)) == 1
    assert active_links(db, lambda: PayLink.invoice_id.is_not(None)) == THREADS


def test_concurrent_updates_of_one_invoice_lose_no_revision(app, db, api_key):
    # Each body differs, so each request is a real change: with the invoice row locked while it
    # is updated, every one of them counts and none overwrites another's revision.
    created = app.test_client().post("/api/v1/invoices", json=invoice_body(),
                                     headers={"Authorization": f"Bearer {api_key}"})
    assert created.status_code == 201
    bodies = [invoice_body(memo=f"update {i}") for i in range(THREADS)]
    results = run_concurrently(app, api_key, bodies)
    assert [status for status, _body in results] == [200] * THREADS, results
    revisions = sorted(body["revision"] for _status, body in results)
    assert revisions == list(range(2, THREADS + 2))
    with db.reader() as session:
        invoice = session.scalars(select(Invoice)).one()
    assert invoice.revision == THREADS + 1
    assert invoice.memo in {body["memo"] for body in bodies}
    assert count(db, InvoiceLine) == 2

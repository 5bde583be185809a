"""The read-before-transaction protocol: work that needs a network read asks for it, its
transaction rolls back, the read is made with no transaction open, and the work runs again
with the value; each read is made once per unit of work."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from payments.events.models import SyncState
from payments.reads import MAX_READS, ReadFirst, Reads, run_with_reads


def _rows(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(SyncState))


def test_the_work_runs_again_with_the_read_and_its_first_run_leaves_nothing(db):
    calls: list[str] = []
    reads = Reads(source="gateway")

    def read(source: str) -> str:
        calls.append(f"read from {source}, {_rows(db)} rows written so far")
        return "pi_1 is succeeded"

    def work(session) -> str:
        session.add(SyncState(name="probe", value="x"))
        session.flush()  # written in the transaction, then rolled back when the read is asked
        return reads.get("pi_1", read)

    assert run_with_reads(db, work) == "pi_1 is succeeded"
    assert calls == ["read from gateway, 0 rows written so far"]
    assert _rows(db) == 1  # only the second run's write is kept


def test_a_value_already_read_or_given_is_not_read_again():
    reads = Reads(known={"pi_1": "given"})
    assert reads.get("pi_1", lambda _source: pytest.fail("read again")) == "given"
    with pytest.raises(ReadFirst) as need:
        reads.get("pi_2", lambda source: f"read {source}")
    need.value.read()
    assert reads.get("pi_2", lambda _source: pytest.fail("read again")) == "read None"


def test_work_that_keeps_asking_fails_instead_of_looping(db):
    asked = []

    def work(session) -> None:
        asked.append(1)
        raise ReadFirst(f"key-{len(asked)}", lambda: None)

    with pytest.raises(RuntimeError, match="kept asking"):
        run_with_reads(db, work)
    assert len(asked) == MAX_READS + 1


def test_a_failing_read_propagates_and_nothing_is_written(db):
    reads = Reads()

    def broken(_source):
        raise ConnectionError("Stripe is down")

    def work(session) -> None:
        session.add(SyncState(name="probe", value="x"))
        reads.get("pi_1", broken)

    with pytest.raises(ConnectionError):
        run_with_reads(db, work)
    assert _rows(db) == 0

"""One protocol for work that must read from Stripe before it can decide.

No database lock is ever held during a network call. Work that finds it needs a read (a
PaymentIntent's current state) asks its :class:`Reads` for it; the first time, that raises
:class:`ReadFirst`, the transaction rolls back, :func:`run_with_reads` makes the read with no
transaction open, and the work runs again, now finding the value. The webhook (through the event
store), the return page and recovery all run their work this way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from payments.db import Database

T = TypeVar("T")
MAX_READS = 3  # work needs one read per payment it touches; more means it keeps asking


class ReadFirst(Exception):  # noqa: N818 (a request to the caller, not an error)
    """Raised inside a transaction by work that needs a network read to decide.

    ``read()`` makes the read (call it with no transaction open) and keeps its result where the
    work's :class:`Reads` finds it on the next run.
    """

    def __init__(self, key: str, read: Callable[[], None]) -> None:
        super().__init__(f"read {key} first, outside the transaction")
        self.key = key
        self.read = read


class Reads:
    """The reads one unit of work has made so far, by key (e.g. a PaymentIntent id).

    ``source`` is what the reads are made from (the Stripe gateway); ``known`` seeds values
    already in hand (replays, tests).
    """

    def __init__(self, source: Any = None, known: Mapping[str, Any] | None = None) -> None:
        self.source = source
        self._done: dict[str, Any] = dict(known or {})

    def get(self, key: str, read: Callable[[Any], T]) -> T:
        """What ``read(source)`` returned for ``key``; raises :class:`ReadFirst` until read."""
        if key in self._done:
            return self._done[key]
        raise ReadFirst(key, lambda: self._read(key, read))

    def _read(self, key: str, read: Callable[[Any], Any]) -> None:
        self._done[key] = read(self.source)


def run_with_reads(db: Database, work: Callable[[Session], T], attempts: int = 3) -> T:
    """Run ``work`` in a transaction (``db.run``, ``attempts`` tries on a unique race), making
    each read it asks for between runs, with no transaction open."""
    for _ in range(MAX_READS + 1):
        try:
            return db.run(work, attempts)
        except ReadFirst as need:
            need.read()
    raise RuntimeError("the work kept asking for another read")

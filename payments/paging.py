"""Keyset pages: every list in the portal pages on a growing id, never with OFFSET, so page
2,000 costs what page 1 does and a page stays put while rows are added."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows; ``next_cursor`` fetches the next page (None at the end)."""

    rows: Sequence[T]
    next_cursor: int | None


def keyset(session: Session, query: Select, key: InstrumentedAttribute, cursor: int | None,
           limit: int, newest_first: bool = False, mappings: bool = False) -> Page[Any]:
    """The page of ``query`` after ``cursor`` in ``key`` order (ascending, or descending with
    ``newest_first``): at most ``limit`` rows, ORM objects (or row mappings with ``mappings``),
    and the cursor of the next page, the ``key`` of the last row, when more rows follow."""
    if cursor is not None:
        query = query.where(key < cursor if newest_first else key > cursor)
    query = query.order_by(key.desc() if newest_first else key).limit(limit + 1)
    found = (session.execute(query).mappings() if mappings else session.scalars(query)).all()
    rows = list(found[:limit])
    if len(found) <= limit or not rows:
        return Page(rows, None)
    last = rows[-1]
    return Page(rows, last[key.key] if mappings else getattr(last, key.key))

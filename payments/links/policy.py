"""How new pay links are made: the link key and how long links live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from payments.links import tokens


@dataclass(frozen=True)
class LinkPolicy:
    """How new pay links are made: the key that derives tokens and how long they live."""

    key: tokens.LinkKey
    ttl: timedelta | None

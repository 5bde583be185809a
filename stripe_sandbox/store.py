"""The sandbox's state: every object by kind, sandbox-only facts about them, the clock, and
saved idempotent responses. One re-entrant lock guards it all; API views, the hosted pages,
the control endpoints and the webhook worker each take it for the whole of a state change.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from stripe_sandbox import errors
from stripe_sandbox.objects import list_object

KINDS = ("customer", "checkout.session", "payment_intent", "charge", "refund", "dispute",
         "event", "webhook_endpoint", "payment_method", "customer_cash_balance_transaction")
IDEMPOTENCY_TTL = 24 * 60 * 60


class Store:
    """All sandbox state, in memory."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.clock_offset = 0
        self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.private: dict[str, dict[str, Any]] = {}
        self.order: dict[str, int] = {}
        self.idempotent: dict[tuple[str, str], dict[str, Any]] = {}
        self.request: dict[str, Any] = {"id": None, "idempotency_key": None}
        self.on_event: Callable[[dict[str, Any]], None] = lambda event: None
        self._seq = itertools.count()

    def reset(self) -> None:
        """Forget every object, event, saved response and clock offset."""
        with self.lock:
            self.clock_offset = 0
            for objects in self.objects.values():
                objects.clear()
            self.private.clear()
            self.order.clear()
            self.idempotent.clear()

    def now(self) -> int:
        """The sandbox clock: Unix seconds, plus any advance made through the control API."""
        return int(time.time()) + self.clock_offset

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object under its ``object`` kind; returns it."""
        self.objects[obj["object"]][obj["id"]] = obj
        self.order[obj["id"]] = next(self._seq)
        return obj

    def get(self, kind: str, object_id: str, param: str = "id",
            status: int = 404) -> dict[str, Any]:
        """The object, or Stripe's ``resource_missing`` error."""
        obj = self.objects[kind].get(object_id)
        if obj is None:
            raise errors.no_such(kind, object_id, param, status)
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        """The object with this id, whatever its kind."""
        for objects in self.objects.values():
            if object_id in objects:
                return objects[object_id]
        return None

    def newest_first(self, kind: str,
                     keep: Callable[[dict[str, Any]], bool] = lambda obj: True
                     ) -> list[dict[str, Any]]:
        """Objects of ``kind`` that ``keep`` accepts, newest first (Stripe's list order)."""
        chosen = [obj for obj in self.objects[kind].values() if keep(obj)]
        return sorted(chosen, key=lambda obj: self.order[obj["id"]], reverse=True)

    def facts(self, object_id: str) -> dict[str, Any]:
        """Sandbox-only facts about an object (never returned by the API)."""
        return self.private.setdefault(object_id, {})

    def paginate(self, items: list[dict[str, Any]], params: dict[str, Any],
                 url: str) -> dict[str, Any]:
        """One page of a newest-first list, with Stripe's cursor semantics."""
        limit = params.get("limit", 10)
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise errors.invalid("You may only specify one of these parameters: "
                                 "ending_before, starting_after.", "starting_after")
        if after:
            cursor = self._cursor(after, "starting_after")
            rest = [item for item in items if self.order[item["id"]] < cursor]
            return list_object(rest[:limit], url, len(rest) > limit)
        if before:
            cursor = self._cursor(before, "ending_before")
            rest = [item for item in items if self.order[item["id"]] > cursor]
            return list_object(rest[-limit:], url, len(rest) > limit)
        return list_object(items[:limit], url, len(items) > limit)

    def _cursor(self, object_id: str, param: str) -> int:
        if object_id not in self.order:
            kind = object_id.split("_")[0]
            raise errors.no_such(kind, object_id, param, status=400)
        return self.order[object_id]

    def saved_response(self, api_key: str, key: str) -> dict[str, Any] | None:
        """A response saved for this Idempotency-Key within the last 24 hours."""
        saved = self.idempotent.get((api_key, key))
        if saved and self.now() - saved["created"] > IDEMPOTENCY_TTL:
            del self.idempotent[(api_key, key)]
            return None
        return saved

    def save_response(self, api_key: str, key: str, record: dict[str, Any]) -> None:
        """Remember a response so a retry with the same key replays it (for 24 hours)."""
        if len(self.idempotent) >= 1000:
            cutoff = self.now() - IDEMPOTENCY_TTL
            self.idempotent = {k: v for k, v in self.idempotent.items()
                               if v["created"] >= cutoff}
        self.idempotent[(api_key, key)] = dict(record, created=self.now())


def matches(obj: dict[str, Any], filters: Iterable[tuple[str, Any]]) -> bool:
    """Whether every ``(field, value)`` filter that has a value matches ``obj``."""
    return all(value is None or obj.get(field) == value for field, value in filters)

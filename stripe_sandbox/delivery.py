"""Webhook delivery: a background thread POSTs each event to every subscribed endpoint,
signed like Stripe (``Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 of "t.body">``), in
creation order, retrying non-2xx answers and connection errors with exponential backoff up
to a maximum number of attempts. Fault injection makes delivery misbehave on purpose."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from stripe_sandbox import endpoints, errors
from stripe_sandbox.store import Store

FAULTS = {"duplicate": False, "shuffle_window": 0, "shuffle_hold": 0.5, "delay": 0.0,
          "drop_probability": 0.0, "drop_next": 0, "outage": False}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def post(url: str, payload: str, signature: str, timeout: float) -> tuple[int | None, str | None]:
    """POST one delivery; returns ``(status, None)`` or ``(None, connection error)``."""
    request = urllib.request.Request(  # noqa: S310 - endpoint URLs are checked to be http(s)
        url, data=payload.encode(), method="POST",
        headers={"Content-Type": "application/json; charset=utf-8",
                 "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                 "Stripe-Signature": signature})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        return None, str(getattr(exc, "reason", exc))


def _valid_fault(key: str, value: Any) -> bool:
    if key in ("duplicate", "outage"):
        return isinstance(value, bool)
    if key == "seed":
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return False
    if key in ("shuffle_window", "drop_next"):
        return isinstance(value, int)
    return key != "drop_probability" or value <= 1


class Deliverer:
    """The delivery queue, its log, the injected faults and the worker thread."""

    def __init__(self, store: Store, tick: Callable[[Store], None]) -> None:
        self.store = store
        self.tick = tick
        self.records: dict[str, dict[str, Any]] = {}
        self.queue: list[tuple[float, int, str]] = []
        self.faults = dict(FAULTS)
        self.rng = random.Random(store.config.get("SANDBOX_SEED"))
        self.generation = 0
        self.thread: threading.Thread | None = None
        self.stopped = False
        store.on_event = self.enqueue

    def reset(self) -> None:
        """Forget queued deliveries, the log and all faults."""
        with self.store.lock:
            self.generation += 1
            self.records.clear()
            self.queue.clear()
            self.faults = dict(FAULTS)

    def start(self) -> None:
        """Start the worker thread (a daemon)."""
        self.thread = threading.Thread(target=self.run, name="sandbox-webhooks", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the worker thread."""
        with self.store.changed:
            self.stopped = True
            self.store.changed.notify_all()
        if self.thread:
            self.thread.join(timeout=5)

    def set_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change some fault settings; returns all of them."""
        for key, value in changes.items():
            if key not in FAULTS and key != "seed":
                raise errors.unknown_param(key)
            if not _valid_fault(key, value):
                raise errors.invalid(f"Invalid value for {key}: {value!r}", key)
        changes = dict(changes)
        with self.store.changed:
            if "seed" in changes:
                self.rng.seed(changes.pop("seed"))
            self.faults.update(changes)
            self.store.changed.notify_all()
            return dict(self.faults)

    def enqueue(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for every subscribed endpoint (called with the lock held)."""
        for endpoint in endpoints.subscribed(self.store, event):
            record = self._record(event, endpoint, duplicate=False)
            if self._dropped():
                record["status"] = "dropped"
                self.store.facts(event["id"])["undelivered"] = True
                continue
            event["pending_webhooks"] += 1
            due = time.monotonic() + float(self.faults["delay"])
            self._schedule(record, due)
            if self.faults["duplicate"]:
                self._schedule(self._record(event, endpoint, duplicate=True), due)
        self.store.changed.notify_all()

    def _record(self, event: dict[str, Any], endpoint: dict[str, Any],
                duplicate: bool) -> dict[str, Any]:
        record = {"id": f"whdel_{len(self.records) + 1}", "event": event["id"],
                  "type": event["type"], "endpoint": endpoint["id"], "url": endpoint["url"],
                  "status": "pending", "duplicate": duplicate, "attempts": [],
                  "created": time.time(), "next_attempt_in": None}
        self.records[record["id"]] = record
        return record

    def _dropped(self) -> bool:
        if self.faults["drop_next"] > 0:
            self.faults["drop_next"] -= 1
            return True
        return self.rng.random() < self.faults["drop_probability"]

    def _schedule(self, record: dict[str, Any], due: float) -> None:
        self.queue.append((due, int(record["id"].split("_")[1]), record["id"]))

    def log(self, **filters: str | None) -> list[dict[str, Any]]:
        """Deliveries in creation order, filtered by event, type, endpoint or status."""
        with self.store.lock:
            now = time.monotonic()
            due = {record_id: when for when, _, record_id in self.queue}
            chosen = []
            for record in self.records.values():
                if all(not value or record[key] == value for key, value in filters.items()):
                    when = due.get(record["id"])
                    chosen.append(dict(record, attempts=list(record["attempts"]),
                                       next_attempt_in=None if when is None
                                       else round(max(0.0, when - now), 3)))
            return chosen

    def run(self) -> None:
        """The worker loop: tick the clock-driven changes, deliver what is due."""
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            for record_id, generation in batch:
                self._attempt(record_id, generation)

    def _next_batch(self) -> list[tuple[str, int]] | None:
        with self.store.changed:
            while not self.stopped:
                self.tick(self.store)
                batch = self._due()
                if batch:
                    return [(record_id, self.generation) for record_id in batch]
                self.store.changed.wait(self._wait_time())
            return None

    def _due(self) -> list[str]:
        now = time.monotonic()
        self.queue.sort()
        due = [entry for entry in self.queue if entry[0] <= now]
        window = self.faults["shuffle_window"]
        if not due or (window > 1 and len(due) < window
                       and now - due[0][0] < self.faults["shuffle_hold"]):
            return []
        batch = due[:max(window, 1)]
        for entry in batch:
            self.queue.remove(entry)
        record_ids = [record_id for _, _, record_id in batch]
        if window > 1:
            self.rng.shuffle(record_ids)
        return record_ids

    def _wait_time(self) -> float:
        tick = float(self.store.config.get("SANDBOX_TICK", 0.1))
        if not self.queue:
            return tick
        return max(0.005, min(tick, self.queue[0][0] - time.monotonic()))

    def _attempt(self, record_id: str, generation: int) -> None:
        with self.store.lock:
            record = self.records.get(record_id)
            if record is None or generation != self.generation:
                return
            endpoint = self.store.objects["webhook_endpoint"].get(record["endpoint"])
            event = self.store.objects["event"].get(record["event"])
            if endpoint is None or event is None:
                self._finish(record, "failed", event)
                return
            payload = json.dumps(event, indent=2)
            signature = sign(payload, endpoints.secret_of(self.store, endpoint["id"]),
                             int(time.time()))
            outage = self.faults["outage"]
        timeout = float(self.store.config["SANDBOX_WEBHOOK_TIMEOUT"])
        if outage:
            status, error = None, "connection refused (sandbox webhook outage)"
        else:
            status, error = post(endpoint["url"], payload, signature, timeout)
        with self.store.changed:
            if generation == self.generation:
                self._record_attempt(record, event, status, error)
            self.store.changed.notify_all()

    def _record_attempt(self, record: dict[str, Any], event: dict[str, Any],
                        status: int | None, error: str | None) -> None:
        record["attempts"].append({"at": time.time(), "status": status, "error": error})
        if status is not None and 200 <= status < 300:
            self._finish(record, "delivered", event)
        elif len(record["attempts"]) >= int(self.store.config["SANDBOX_MAX_ATTEMPTS"]):
            self._finish(record, "failed", event)
        else:
            base = float(self.store.config["SANDBOX_RETRY_BASE"])
            delay = base * 2 ** (len(record["attempts"]) - 1)
            self._schedule(record, time.monotonic() + delay)

    def _finish(self, record: dict[str, Any], status: str,
                event: dict[str, Any] | None) -> None:
        record["status"] = status
        if event is not None and not record["duplicate"]:
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
            if status == "failed":
                self.store.facts(event["id"])["undelivered"] = True

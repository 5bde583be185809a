"""The task queue: where it lives, the ticks registered on it, and how a tick behaves."""

from __future__ import annotations

from datetime import datetime

import pytest
from huey import RedisHuey, SqliteHuey

from portal import tasks


def test_the_queue_is_sqlite_in_its_configured_file_by_default(app_factory, tmp_path):
    app = app_factory(PORTAL_QUEUE_PATH=str(tmp_path / "queue" / "tasks.db"),
                      PORTAL_TASKS_IMMEDIATE=False)
    huey = app.extensions["portal.huey"]
    assert isinstance(huey, SqliteHuey)
    assert (tmp_path / "queue" / "tasks.db").exists()


def test_with_redis_configured_the_queue_is_redis(app_factory):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    app = app_factory(PORTAL_REDIS_URL="redis://127.0.0.1:6379/15", PORTAL_TASKS_IMMEDIATE=False)
    huey = app.extensions["portal.huey"]
    assert isinstance(huey, RedisHuey)
    huey.flush()
    assert huey.pending_count() == 0


def test_every_tick_is_registered_on_the_queue_with_its_schedule(app):
    registered = app.extensions["portal.ticks"]
    assert set(registered) == {tick.name for tick in tasks.TICKS}
    assert set(registered) == {"events-sweep", "outbox-sweep", "stripe-sync", "sessions-purge",
                               "reminders", "promises-settle", "collections-learn"}
    due = app.extensions["portal.huey"].read_periodic
    assert sorted(t.name for t in due(datetime(2026, 12, 3, 14, 15))) == [
        "events-sweep", "outbox-sweep", "reminders", "stripe-sync"]
    assert sorted(t.name for t in due(datetime(2026, 12, 3, 14, 7))) == [
        "events-sweep", "outbox-sweep", "sessions-purge"]
    assert sorted(t.name for t in due(datetime(2026, 12, 3, 4, 30))) == [
        "collections-learn", "events-sweep", "outbox-sweep", "reminders", "stripe-sync"]


def test_the_sync_tick_does_nothing_without_stripe_configured(app):
    with app.app_context():
        assert tasks.stripe_sync(app) is None


def test_a_tick_already_running_elsewhere_is_skipped(app, monkeypatch):
    ran = []
    monkeypatch.setattr(tasks, "stripe_sync", lambda app: ran.append(1))
    huey = app.extensions["portal.huey"]
    tick = tasks._periodic(app, huey, tasks.Tick("probe", tasks.TICKS[0].schedule,
                                                 lambda app: ran.append("ran"), "a probe"))
    with huey.lock_task("probe"):
        tick.call_local()  # another consumer holds the lock: nothing runs
    assert ran == []
    tick.call_local()
    assert ran == ["ran"]

"""Fixtures: a migrated database per test (SQLite file, or PostgreSQL when
PORTAL_TEST_DATABASE_URL is set), the app, a client, and an authenticated API client.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import payments.schema  # noqa: F401  (every table on Base.metadata: truncated too)
from payments.db import Base, make_engine
from payments.migrate import upgrade
from tests.factories import invoice_body

# One chromium for the whole session, shared by tests/browser and tests/integration; the
# staff console fixtures (cheap password hashing).
pytest_plugins = ["tests.playwright_fixtures", "tests.staff_helpers", "tests.mailbox",
                  "tests.ledger_world"]



def _per_worker(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (``test_gw0``…),
    created on first use, so workers never truncate each other's tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    server, _, name = url.rpartition("/")
    name, _, query = name.partition("?")
    own = f"{name}_{worker}"
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                               {"name": own}):
                conn.execute(text(f'CREATE DATABASE "{own}"'))
    finally:
        engine.dispose()
    return f"{server}/{own}" + (f"?{query}" if query else "")


PG_URL = _per_worker(os.environ.get("PORTAL_TEST_DATABASE_URL"))
LINK_KEY = "test-link-key-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session", autouse=True)
def _instance_dir(tmp_path_factory) -> Iterator[Path]:
    # Tests never touch the checkout's instance/ folder (dev secrets, outbox, PDFs).
    path = tmp_path_factory.mktemp("instance")
    old = os.environ.get("PORTAL_INSTANCE_PATH")
    os.environ["PORTAL_INSTANCE_PATH"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PORTAL_INSTANCE_PATH", None)
    else:
        os.environ["PORTAL_INSTANCE_PATH"] = old


@pytest.fixture(scope="session")
def migrated(tmp_path_factory) -> str:
    """A database at the newest migration: the PostgreSQL URL, or a template SQLite file."""
    if PG_URL:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        return PG_URL
    template = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return str(template)


@pytest.fixture
def database_url(migrated: str, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database for one test."""
    if not PG_URL:
        target = tmp_path / "portal.db"
        shutil.copy(migrated, target)
        yield f"sqlite:///{target}"
        return
    yield PG_URL
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        _empty_postgres(conn)
    engine.dispose()


def _empty_postgres(conn) -> None:
    """Empty the tables a test wrote to and restart the sequences it used. Only those: a
    TRUNCATE of every table costs PostgreSQL a new file for each, a third of a second per
    test, when a test touches a handful."""
    tables = [t.name for t in Base.metadata.sorted_tables]
    probe = " UNION ALL ".join(f"(SELECT '{t}' FROM {t} LIMIT 1)" for t in tables)
    used = list(conn.scalars(text(probe)))
    if used:
        conn.execute(text(f"TRUNCATE {', '.join(used)} CASCADE"))
    for sequence in conn.scalars(text("SELECT sequencename FROM pg_sequences WHERE "
                                      "schemaname = 'public' AND last_value IS NOT NULL")):
        conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


def app_config(database_url: str, tmp_path: Path, **extra) -> dict:
    """The config every test app starts from."""
    return {
        "TESTING": True,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_SECRET_KEY": "test-secret-key",
        "PORTAL_LINK_KEY": LINK_KEY,
        "PORTAL_BASE_URL": "https://portal.test",
        "PORTAL_PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        "PORTAL_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "PORTAL_QUEUE_PATH": str(tmp_path / "tasks.db"),
        # Tasks run as they are enqueued, so a webhook is applied before it is answered;
        # tests/integration/test_worker.py runs them on real consumers instead.
        "PORTAL_TASKS_IMMEDIATE": True,
        "PORTAL_BUSINESS_NAME": "Acme Supplies Ltd",
        "PORTAL_BUSINESS_ADDRESS": "1 Market Street\nSpringfield",
        "PORTAL_SUPPORT_EMAIL": "ar@acme.example",
        **extra,
    }


@pytest.fixture
def app_factory(database_url: str, tmp_path: Path):
    """Build an app on this test's database with extra config (closed at teardown)."""
    from portal import create_app

    made = []

    def build(**extra):
        app = create_app(app_config(database_url, tmp_path, **extra))
        made.append(app)
        return app

    yield build
    for app in made:
        app.extensions["portal.db"].dispose()


@pytest.fixture
def stack_config() -> dict:
    """Extra config for the portal of the integration ``stack`` (override in a test module)."""
    return {}


@pytest.fixture
def app(app_factory):
    """The app under test."""
    return app_factory()


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def db(app):
    """The app's :class:`payments.db.Database`."""
    return app.extensions["portal.db"]


@pytest.fixture
def api_key(app) -> str:
    """A fresh API key's plaintext."""
    from payments.staff import api_keys

    with app.extensions["portal.db"].transaction() as session:
        _key, plaintext = api_keys.create(session, "tests")
    return plaintext


class Api:
    """The test client with the bearer key and JSON bodies filled in."""

    def __init__(self, client, key: str) -> None:
        self.client, self.key = client, key

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self._headers(), **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return self.client.post(f"/api/v1{path}", json=json, headers=self._headers(), **kwargs)

    def create(self, **overrides) -> dict:
        """POST a valid invoice (with overrides) and return the response JSON (asserts 2xx)."""
        response = self.post("/invoices", json=invoice_body(**overrides))
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()


@pytest.fixture
def api(client, api_key) -> Api:
    """An authenticated API client."""
    return Api(client, api_key)


def token_of(url: str) -> str:
    """The token at the end of a pay or statement URL."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def path_of(url: str) -> str:
    """The path of an absolute portal URL (``https://portal.test/i/x`` → ``/i/x``)."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]

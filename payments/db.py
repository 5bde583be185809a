"""Engine and session factories, shared by the web app, the CLI and the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, Integer, any_, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

T = TypeVar("T")


class Base(DeclarativeBase):
    """Declarative base of every AR Portal table."""


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's SQL: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Database:
    """One engine plus two session factories: ``reader`` for pages, ``writer`` for changes.

    On SQLite a writer begins with ``BEGIN IMMEDIATE``: it takes the write lock up front, so two
    writers queue on the busy timeout instead of one failing halfway with SQLITE_BUSY_SNAPSHOT.
    Readers begin deferred and never wait for a writer (WAL). On PostgreSQL both are the same.
    """

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.reader = sessionmaker(self.engine, expire_on_commit=False)
        write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self.writer = sessionmaker(write_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite (the embedded default)."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session that commits on success and rolls everything back on any error."""
        with self.writer() as session, session.begin():
            yield session

    def run(self, work: Callable[[Session], T], attempts: int = 3) -> T:
        """Run ``work`` in a transaction, retrying when a concurrent writer won a unique race.

        Two requests creating the same external id both see "absent" and both insert; the loser
        gets an IntegrityError, and on retry finds the winner's row and updates it instead.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction() as session:
                    return work(session)
            except IntegrityError:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        """Close every pooled connection (tests, forks)."""
        self.engine.dispose()


def among(session: Session, column, ids: Iterable[int]):
    """``column IN ids``; on PostgreSQL ``column = ANY(:ids)``, one array parameter: a list
    of thousands of ids costs SQLAlchemy more to render than the database to run."""
    ids = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=postgresql.ARRAY(Integer)))
    return column.in_(ids)


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for ``url`` with the settings AR Portal relies on.

    SQLite gets foreign keys (off by default), WAL so readers never block the writer, and a busy
    timeout so concurrent writers queue instead of failing with "database is locked".
    """
    if not url.startswith("sqlite"):
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn, _record) -> None:
    # Turn off pysqlite's implicit transactions so that _sqlite_begin decides how BEGIN looks.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL",
                   "busy_timeout=30000"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_begin(conn) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())

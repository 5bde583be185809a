"""A PostgreSQL database of a benchmark's own on the local server: created empty, dropped at the
end (the scripts that can also run on SQLite use it for ``--database postgres``)."""

from __future__ import annotations

from payments.db import make_engine

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def fresh(name: str) -> str:
    """Drop and create the database ``name``; its URL."""
    _admin(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    return ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop(name: str) -> None:
    """Drop the database ``name``, closing its connections first."""
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(*statements: str) -> None:
    engine = make_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()

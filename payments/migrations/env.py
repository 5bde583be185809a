"""Alembic environment: runs on the engine handed over by :mod:`payments.migrate`."""

from alembic import context

from payments import (  # noqa: F401  (every table on Base.metadata)
    models,
    notes,
    payment_models,
    staff_models,
)
from payments.db import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from payments.db import Base, make_engine
from payments.invoicing.models import Invoice
from payments.migrate import current


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    Base.metadata)
        assert diff == []
        assert current(engine) is not None
    finally:
        engine.dispose()


def test_schema_rejects_a_total_that_does_not_add_up(api, db):
    # The API validates first; the CHECK constraint is the last line of defence for any writer.
    inv = api.create()
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.execute(update(Invoice).where(Invoice.id == inv["id"]).values(total=1))
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.execute(update(Invoice).where(Invoice.id == inv["id"]).values(amount_paid=-1))

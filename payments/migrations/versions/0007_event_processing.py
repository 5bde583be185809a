"""events processed off the request path: when each was applied, and when a failed one is due

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:30:00.000000

The webhook now stores an event and answers; a task applies it later and sets ``processed_at``.
Events stored before this revision were applied in the transaction that stored them.
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

UNPROCESSED = sa.text("processed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('stripe_events') as batch_op:
        batch_op.add_column(sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE stripe_events SET processed_at = received_at")
    op.create_index('ix_stripe_events_unprocessed', 'stripe_events', ['received_at'],
                    postgresql_where=UNPROCESSED, sqlite_where=UNPROCESSED)
    with op.batch_alter_table('stripe_event_failures') as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stripe_event_failures') as batch_op:
        batch_op.drop_column('next_attempt_at')
    op.drop_index('ix_stripe_events_unprocessed', table_name='stripe_events')
    with op.batch_alter_table('stripe_events') as batch_op:
        batch_op.drop_column('processed_at')

"""staff sessions kept on the server: the cookie carries a random token, the row is the session

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00.000000

Sessions that began before this revision (cookies holding ``<user id>.<session version>``) are
not rows, so every staff user signs in once more.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=False),
        sa.Column('user_agent', sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_staff_sessions_user', 'staff_sessions', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_staff_sessions_user', table_name='staff_sessions')
    op.drop_table('staff_sessions')

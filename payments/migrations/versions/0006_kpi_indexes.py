"""indexes for the dashboard's KPIs over a large book (see bench/kpis.py)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:00:00.000000

The invoice indexes cover the KPI queries (every column they read is in the key: SQLite has no
INCLUDE), so aging, DSO and CEI over a million invoices read no table pages.
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

UNPAID = sa.text("amount_paid < total")
PENDING = sa.text("status = 'pending'")
UNCONFIRMED = sa.text("status = 'succeeded' AND confirmed_at IS NULL")


def upgrade() -> None:
    op.create_index('ix_invoices_unpaid', 'invoices',
                    ['issue_date', 'id', 'currency', 'due_date', 'total', 'amount_paid',
                     'voided_at'], postgresql_where=UNPAID, sqlite_where=UNPAID)
    op.create_index('ix_invoices_issue_date', 'invoices',
                    ['issue_date', 'currency', 'total', 'voided_at'])
    op.create_index('ix_ledger_entries_created_at', 'ledger_entries', ['created_at'])
    op.create_index('ix_payments_pending', 'payments', ['currency', 'amount'],
                    postgresql_where=PENDING, sqlite_where=PENDING)
    op.create_index('ix_payments_unconfirmed', 'payments', ['id'],
                    postgresql_where=UNCONFIRMED, sqlite_where=UNCONFIRMED)


def downgrade() -> None:
    for table, name in (('payments', 'ix_payments_unconfirmed'),
                        ('payments', 'ix_payments_pending'),
                        ('ledger_entries', 'ix_ledger_entries_created_at'),
                        ('invoices', 'ix_invoices_issue_date'),
                        ('invoices', 'ix_invoices_unpaid')):
        op.drop_index(name, table_name=table)

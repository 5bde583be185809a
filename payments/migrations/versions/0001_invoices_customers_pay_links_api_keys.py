"""invoices customers pay links api keys

Revision ID: 0001
Revises:
Create Date: 2026-11-22 13:48:11.804608
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('terms', sa.Text(), nullable=True),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('subtotal', sa.BigInteger(), nullable=False),
    sa.Column('tax_amount', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('allow_partial', sa.Boolean(), nullable=False),
    sa.Column('min_partial_amount', sa.BigInteger(), nullable=True),
    sa.Column('amount_paid', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('amount_pending', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_paid >= 0', name='paid_not_negative'),
    sa.CheckConstraint('amount_pending >= 0', name='pending_not_negative'),
    sa.CheckConstraint('due_date >= issue_date', name='due_after_issue'),
    sa.CheckConstraint('length(currency) = 3', name='currency_code'),
    sa.CheckConstraint('min_partial_amount IS NULL OR (allow_partial AND min_partial_amount > 0 AND min_partial_amount <= total)', name='min_partial_in_range'),
    sa.CheckConstraint('revision >= 1', name='revision_positive'),
    sa.CheckConstraint('subtotal + tax_amount = total', name='total_adds_up'),
    sa.CheckConstraint('tax_amount >= 0', name='tax_not_negative'),
    sa.CheckConstraint('total >= 0', name='total_not_negative'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_customer_due', ['customer_id', 'due_date'], unique=False)

    op.create_table('invoice_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('quantity', sa.String(length=40), nullable=True),
    sa.Column('unit_amount', sa.BigInteger(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id', 'position')
    )
    op.create_table('pay_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('nonce', sa.LargeBinary(length=32), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(scope = 'invoice' AND invoice_id IS NOT NULL AND customer_id IS NULL) OR (scope = 'statement' AND customer_id IS NOT NULL AND invoice_id IS NULL)", name='scope_target'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('pay_links', schema=None) as batch_op:
        batch_op.create_index('uq_pay_links_active_invoice', ['invoice_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL AND invoice_id IS NOT NULL'), postgresql_where=sa.text('revoked_at IS NULL AND invoice_id IS NOT NULL'))
        batch_op.create_index('uq_pay_links_active_statement', ['customer_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL AND customer_id IS NOT NULL'), postgresql_where=sa.text('revoked_at IS NULL AND customer_id IS NOT NULL'))



def downgrade() -> None:
    with op.batch_alter_table('pay_links', schema=None) as batch_op:
        batch_op.drop_index('uq_pay_links_active_statement', sqlite_where=sa.text('revoked_at IS NULL AND customer_id IS NOT NULL'), postgresql_where=sa.text('revoked_at IS NULL AND customer_id IS NOT NULL'))
        batch_op.drop_index('uq_pay_links_active_invoice', sqlite_where=sa.text('revoked_at IS NULL AND invoice_id IS NOT NULL'), postgresql_where=sa.text('revoked_at IS NULL AND invoice_id IS NOT NULL'))

    op.drop_table('pay_links')
    op.drop_table('invoice_lines')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_customer_due')

    op.drop_table('invoices')
    op.drop_table('customers')
    op.drop_table('api_keys')

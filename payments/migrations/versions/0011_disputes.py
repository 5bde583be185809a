"""disputes: commercial disputes raised from the invoice page, their lines, thread, internal
notes and attachments; credit notes; the ledger's ``credit_note`` kind

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 00:21:12.370304
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OLD_KINDS = ("pending", "pending_released", "payment", "payment_reversed", "refund",
             "refund_reversed", "dispute_withdrawal", "dispute_reinstatement", "adjustment",
             "reallocation", "credit_transfer")
NEW_KINDS = (*OLD_KINDS, "credit_note")


def _kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def _ledger_kinds(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint('kind_known', type_='check')
        batch_op.create_check_constraint('kind_known', _kinds(kinds))


def upgrade() -> None:
    _ledger_kinds(NEW_KINDS)
    op.create_table('disputes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('outcome_note', sa.Text(), nullable=True),
    sa.Column('new_due_date', sa.Date(), nullable=True),
    sa.Column('new_amount_due', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=320), nullable=True),
    sa.CheckConstraint("(status = 'resolved') = (outcome IS NOT NULL)", name='resolved_has_outcome'),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('credited', 'adjusted', 'rejected', 'voided')", name='outcome_known'),
    sa.CheckConstraint("reason IN ('pricing', 'quantity', 'damaged', 'not_received', 'duplicate', 'already_paid', 'tax', 'other')", name='reason_known'),
    sa.CheckConstraint("status IN ('open', 'under_review', 'resolved')", name='status_known'),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.create_index('ix_disputes_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index('ix_disputes_status', ['status', 'created_at'], unique=False)
        batch_op.create_index('uq_disputes_active_invoice', ['invoice_id'], unique=True, sqlite_where=sa.text("status IN ('open', 'under_review')"), postgresql_where=sa.text("status IN ('open', 'under_review')"))

    op.create_table('credit_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('invoice_due_after', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dispute_id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_notes_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_credit_notes_invoice', ['invoice_id'], unique=False)

    op.create_table('dispute_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dispute_id', 'position')
    )
    op.create_table('dispute_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('from_staff', sa.Boolean(), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dispute_messages', schema=None) as batch_op:
        batch_op.create_index('ix_dispute_messages_dispute', ['dispute_id', 'id'], unique=False)

    op.create_table('dispute_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dispute_notes', schema=None) as batch_op:
        batch_op.create_index('ix_dispute_notes_dispute', ['dispute_id', 'id'], unique=False)

    op.create_table('dispute_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("content_type IN ('application/pdf', 'image/png', 'image/jpeg')", name='type_allowed'),
    sa.CheckConstraint('size > 0', name='size_positive'),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], ),
    sa.ForeignKeyConstraint(['message_id'], ['dispute_messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('stored_name')
    )
    with op.batch_alter_table('dispute_attachments', schema=None) as batch_op:
        batch_op.create_index('ix_dispute_attachments_dispute', ['dispute_id', 'id'], unique=False)



def downgrade() -> None:
    # Credit notes become plain adjustments (balances unchanged) before the kind is gone.
    op.execute("UPDATE ledger_entries SET kind = 'adjustment' WHERE kind = 'credit_note'")
    with op.batch_alter_table('dispute_attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_dispute_attachments_dispute')

    op.drop_table('dispute_attachments')
    with op.batch_alter_table('dispute_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_dispute_notes_dispute')

    op.drop_table('dispute_notes')
    with op.batch_alter_table('dispute_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_dispute_messages_dispute')

    op.drop_table('dispute_messages')
    op.drop_table('dispute_lines')
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_notes_invoice')
        batch_op.drop_index('ix_credit_notes_customer')

    op.drop_table('credit_notes')
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index('uq_disputes_active_invoice', sqlite_where=sa.text("status IN ('open', 'under_review')"), postgresql_where=sa.text("status IN ('open', 'under_review')"))
        batch_op.drop_index('ix_disputes_status')
        batch_op.drop_index(batch_op.f('ix_disputes_invoice_id'))
        batch_op.drop_index('ix_disputes_customer')

    op.drop_table('disputes')
    _ledger_kinds(OLD_KINDS)

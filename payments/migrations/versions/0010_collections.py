"""collections: reminder policies and templates, customer contact preferences and windows,
promises to pay, the contacts made and calls logged; outbox emails get HTML and several links

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reminder_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('reminder_policies', schema=None) as batch_op:
        batch_op.create_index('uq_reminder_policies_default', ['is_default'], unique=True, sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))

    op.create_table('reminder_templates',
    sa.Column('tone', sa.String(length=12), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=True),
    sa.CheckConstraint("tone IN ('polite', 'partnership', 'firm')", name='tone_known'),
    sa.PrimaryKeyConstraint('tone')
    )
    op.create_table('collection_profiles',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('do_not_chase', sa.Boolean(), nullable=False),
    sa.Column('learn_timing', sa.Boolean(), nullable=False),
    sa.Column('preferred_channel', sa.String(length=10), nullable=True),
    sa.Column('contact_emails', sa.Text(), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('hours_start', sa.Integer(), nullable=False),
    sa.Column('hours_end', sa.Integer(), nullable=False),
    sa.Column('business_days', sa.String(length=7), nullable=False),
    sa.Column('learned', sa.JSON(), nullable=True),
    sa.Column('trend', sa.JSON(), nullable=True),
    sa.Column('trend_flag', sa.Boolean(), nullable=False),
    sa.Column('learned_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=True),
    sa.CheckConstraint("preferred_channel IS NULL OR preferred_channel IN ('email', 'letter', 'call')", name='preferred_channel_known'),
    sa.CheckConstraint('hours_start >= 0 AND hours_end <= 24 AND hours_start < hours_end', name='hours_in_range'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['policy_id'], ['reminder_policies.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('customer_id')
    )
    with op.batch_alter_table('collection_profiles', schema=None) as batch_op:
        batch_op.create_index('ix_collection_profiles_flagged', ['customer_id'], unique=False, sqlite_where=sa.text('trend_flag'), postgresql_where=sa.text('trend_flag'))

    op.create_table('contact_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('start', sa.String(length=10), nullable=False),
    sa.Column('end', sa.String(length=10), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('monthly', 'yearly', 'dates')", name='kind_known'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact_windows', schema=None) as batch_op:
        batch_op.create_index('ix_contact_windows_customer', ['customer_id'], unique=False)

    op.create_table('promises',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('promised_on', sa.Date(), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('followed_up_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'kept', 'broken', 'canceled')", name='status_known'),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('promises', schema=None) as batch_op:
        batch_op.create_index('ix_promises_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_promises_open', ['promised_on'], unique=False, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('reminder_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('offset_days', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('tone', sa.String(length=12), nullable=False),
    sa.CheckConstraint("channel IN ('email', 'letter', 'call', 'escalate')", name='channel_known'),
    sa.CheckConstraint("tone IN ('polite', 'partnership', 'firm')", name='tone_known'),
    sa.CheckConstraint('offset_days BETWEEN -60 AND 365', name='offset_in_range'),
    sa.ForeignKeyConstraint(['policy_id'], ['reminder_policies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('policy_id', 'offset_days')
    )
    op.create_table('invoice_chase',
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('do_not_chase', sa.Boolean(), nullable=False),
    sa.Column('last_offset', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('invoice_id')
    )
    op.create_table('reminder_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('outbox_email_id', sa.Integer(), nullable=True),
    sa.Column('to_address', sa.Text(), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('why', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=320), nullable=True),
    sa.Column('canceled_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("channel IN ('email', 'letter', 'call', 'escalate')", name='channel_known'),
    sa.CheckConstraint("status IN ('queued', 'open', 'done', 'canceled')", name='status_known'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['outbox_email_id'], ['outbox_emails.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reminder_contacts', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_contacts_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_reminder_contacts_open', ['day'], unique=False, sqlite_where=sa.text("status IN ('open', 'queued')"), postgresql_where=sa.text("status IN ('open', 'queued')"))
        batch_op.create_index('uq_reminder_contacts_day', ['customer_id', 'channel', 'day'], unique=True, sqlite_where=sa.text("status <> 'canceled'"), postgresql_where=sa.text("status <> 'canceled'"))

    op.create_table('call_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('promise_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('author_email', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('reached', 'left_message', 'promise', 'dispute', 'wrong_contact')", name='outcome_known'),
    sa.ForeignKeyConstraint(['author_id'], ['staff_users.id'], ),
    sa.ForeignKeyConstraint(['contact_id'], ['reminder_contacts.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['promise_id'], ['promises.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('call_logs', schema=None) as batch_op:
        batch_op.create_index('ix_call_logs_customer', ['customer_id', 'id'], unique=False)

    op.create_table('reminder_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('offset_days', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('why', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('contacted', 'skipped')", name='outcome_known'),
    sa.ForeignKeyConstraint(['contact_id'], ['reminder_contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id', 'offset_days')
    )
    with op.batch_alter_table('reminder_items', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_items_contact', ['contact_id'], unique=False)

    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('html', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('links', sa.JSON(), nullable=True))
    op.create_index('ix_invoices_open_by_customer', 'invoices',
                    ['customer_id', 'due_date', 'currency', 'total', 'amount_paid'],
                    postgresql_where=sa.text('amount_paid < total AND voided_at IS NULL'),
                    sqlite_where=sa.text('amount_paid < total AND voided_at IS NULL'))
    op.create_index('ix_promises_broken', 'promises', ['customer_id'],
                    postgresql_where=sa.text("status = 'broken' AND followed_up_at IS NULL"),
                    sqlite_where=sa.text("status = 'broken' AND followed_up_at IS NULL"))



def downgrade() -> None:
    op.drop_index('ix_promises_broken', table_name='promises')
    op.drop_index('ix_invoices_open_by_customer', table_name='invoices')
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_column('links')
        batch_op.drop_column('html')

    with op.batch_alter_table('reminder_items', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_items_contact')

    op.drop_table('reminder_items')
    with op.batch_alter_table('call_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_call_logs_customer')

    op.drop_table('call_logs')
    with op.batch_alter_table('reminder_contacts', schema=None) as batch_op:
        batch_op.drop_index('uq_reminder_contacts_day', sqlite_where=sa.text("status <> 'canceled'"), postgresql_where=sa.text("status <> 'canceled'"))
        batch_op.drop_index('ix_reminder_contacts_open', sqlite_where=sa.text("status IN ('open', 'queued')"), postgresql_where=sa.text("status IN ('open', 'queued')"))
        batch_op.drop_index('ix_reminder_contacts_customer')

    op.drop_table('reminder_contacts')
    op.drop_table('invoice_chase')
    op.drop_table('reminder_steps')
    with op.batch_alter_table('promises', schema=None) as batch_op:
        batch_op.drop_index('ix_promises_open', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index('ix_promises_customer')

    op.drop_table('promises')
    with op.batch_alter_table('contact_windows', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_windows_customer')

    op.drop_table('contact_windows')
    with op.batch_alter_table('collection_profiles', schema=None) as batch_op:
        batch_op.drop_index('ix_collection_profiles_flagged', sqlite_where=sa.text('trend_flag'), postgresql_where=sa.text('trend_flag'))

    op.drop_table('collection_profiles')
    op.drop_table('reminder_templates')
    with op.batch_alter_table('reminder_policies', schema=None) as batch_op:
        batch_op.drop_index('uq_reminder_policies_default', sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))

    op.drop_table('reminder_policies')

"""confirmations and resolutions: who confirmed, how a payment was matched, staff allocation
sets, customer credits (append-only), staff ledger kinds

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000

``customer_credits`` refuses UPDATE and DELETE in the database itself, like ``audit_entries``
(0003): a PL/pgSQL trigger on PostgreSQL, RAISE(ABORT) triggers on SQLite. A later migration
that rebuilds it on SQLite (batch mode) must create the triggers again.
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD_KINDS = ("pending", "pending_released", "payment", "payment_reversed", "refund",
             "refund_reversed", "dispute_withdrawal", "dispute_reinstatement", "adjustment")
NEW_KINDS = (*OLD_KINDS, "reallocation", "credit_transfer")


def _kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_by', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('match_reason', sa.String(length=32), nullable=True))

    with op.batch_alter_table('reconciliation_exceptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('refund_id', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint('uq_reconciliation_exceptions_refund_id',
                                          ['refund_id'])

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_payment_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_ledger_entries_staff_payment_id', 'payments',
                                    ['staff_payment_id'], ['id'])
        batch_op.create_index('ix_ledger_entries_staff_payment', ['staff_payment_id'],
                              unique=False)
        batch_op.drop_constraint('kind_known', type_='check')
        batch_op.create_check_constraint('kind_known', _kinds(NEW_KINDS))

    op.create_table('staff_allocation_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('exception_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['exception_id'], ['reconciliation_exceptions.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff_allocation_sets', schema=None) as batch_op:
        batch_op.create_index('uq_staff_allocation_sets_current', ['payment_id'], unique=True,
                              sqlite_where=sa.text('superseded_at IS NULL'),
                              postgresql_where=sa.text('superseded_at IS NULL'))

    op.create_table('staff_allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.ForeignKeyConstraint(['set_id'], ['staff_allocation_sets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('set_id', 'invoice_id')
    )
    op.create_table('customer_credits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('cause', sa.String(length=255), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount <> 0', name='moves_money'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cause')
    )
    with op.batch_alter_table('customer_credits', schema=None) as batch_op:
        batch_op.create_index('ix_customer_credits_customer', ['customer_id', 'currency'],
                              unique=False)

    _append_only()


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # SQLSTATE 23001 (restrict_violation): an integrity error, as on SQLite.
        op.execute("""
            CREATE FUNCTION customer_credits_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'customer_credits is append-only: % refused', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$""")
        op.execute("""
            CREATE TRIGGER customer_credits_append_only
            BEFORE UPDATE OR DELETE ON customer_credits
            FOR EACH ROW EXECUTE FUNCTION customer_credits_append_only()""")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER customer_credits_no_{verb.lower()}
            BEFORE {verb} ON customer_credits
            BEGIN
                SELECT RAISE(ABORT, 'customer_credits is append-only: {verb} refused');
            END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER customer_credits_append_only ON customer_credits")
        op.execute("DROP FUNCTION customer_credits_append_only()")
    else:
        op.execute("DROP TRIGGER customer_credits_no_update")
        op.execute("DROP TRIGGER customer_credits_no_delete")
    with op.batch_alter_table('customer_credits', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_credits_customer')
    op.drop_table('customer_credits')
    op.drop_table('staff_allocations')
    with op.batch_alter_table('staff_allocation_sets', schema=None) as batch_op:
        batch_op.drop_index('uq_staff_allocation_sets_current',
                            sqlite_where=sa.text('superseded_at IS NULL'),
                            postgresql_where=sa.text('superseded_at IS NULL'))
    op.drop_table('staff_allocation_sets')

    # Staff entries cannot be expressed without their kinds: the downgrade refuses rather
    # than drop ledger rows (the ledger is append-only).
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint('kind_known', type_='check')
        batch_op.create_check_constraint('kind_known', _kinds(OLD_KINDS))
        batch_op.drop_index('ix_ledger_entries_staff_payment')
        batch_op.drop_constraint('fk_ledger_entries_staff_payment_id', type_='foreignkey')
        batch_op.drop_column('staff_payment_id')

    with op.batch_alter_table('reconciliation_exceptions', schema=None) as batch_op:
        batch_op.drop_constraint('uq_reconciliation_exceptions_refund_id', type_='unique')
        batch_op.drop_column('refund_id')
        batch_op.drop_column('resolved_by')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('match_reason')
        batch_op.drop_column('confirmed_by')

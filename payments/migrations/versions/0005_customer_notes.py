"""customer notes (append-only); what the console's invoice and customer pages look up: events
by payment, payments by attempt and customer, allocations and links by invoice, invoices by
number, customers by name

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 10:00:00.000000

``customer_notes`` refuses UPDATE and DELETE in the database itself, like ``audit_entries``
(0003) and ``customer_credits`` (0004). ``stripe_events.payment_ref`` is filled for the events
already stored from their payloads, by the same rule as :func:`payments.stripe_facts.payment_ref`
(written out here in SQL: a migration must not change when that code does).
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# (table, index, columns)
INDEXES = (
    ('customers', 'ix_customers_name', ['name', 'id']),
    ('invoices', 'ix_invoices_number', ['number']),
    ('pay_links', 'ix_pay_links_invoice', ['invoice_id', 'id']),
    ('pay_links', 'ix_pay_links_customer', ['customer_id', 'id']),
    ('payment_allocations', 'ix_payment_allocations_invoice', ['invoice_id']),
    ('payments', 'ix_payments_attempt', ['attempt_id']),
    ('payments', 'ix_payments_customer', ['customer_id', 'id']),
)

_BACKFILL_POSTGRESQL = """
UPDATE stripe_events SET payment_ref = r.ref FROM (
    SELECT id, CASE
        WHEN o->>'object' = 'payment_intent' THEN o->>'id'
        WHEN o->>'object' = 'customer_cash_balance_transaction'
            THEN o->'applied_to_payment'->>'payment_intent'
        WHEN jsonb_typeof(o->'payment_intent') = 'object' THEN o->'payment_intent'->>'id'
        WHEN jsonb_typeof(o->'payment_intent') = 'string' THEN o->>'payment_intent'
        WHEN o->>'object' = 'checkout.session' THEN o->>'id'
    END AS ref
    FROM (SELECT id, payload::jsonb->'data'->'object' AS o FROM stripe_events) AS s
) AS r
WHERE r.id = stripe_events.id AND r.ref IS NOT NULL
"""

_BACKFILL_SQLITE = """
UPDATE stripe_events SET payment_ref = CASE
    WHEN json_extract(payload, '$.data.object.object') = 'payment_intent'
        THEN json_extract(payload, '$.data.object.id')
    WHEN json_extract(payload, '$.data.object.object') = 'customer_cash_balance_transaction'
        THEN json_extract(payload, '$.data.object.applied_to_payment.payment_intent')
    WHEN json_type(payload, '$.data.object.payment_intent') = 'object'
        THEN json_extract(payload, '$.data.object.payment_intent.id')
    WHEN json_type(payload, '$.data.object.payment_intent') = 'text'
        THEN json_extract(payload, '$.data.object.payment_intent')
    WHEN json_extract(payload, '$.data.object.object') = 'checkout.session'
        THEN json_extract(payload, '$.data.object.id')
END
"""


def upgrade() -> None:
    op.create_table('customer_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('author_email', sa.String(length=320), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(body) BETWEEN 1 AND 4000', name='body_length'),
    sa.ForeignKeyConstraint(['author_id'], ['staff_users.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('customer_notes', schema=None) as batch_op:
        batch_op.create_index('ix_customer_notes_customer', ['customer_id', 'id'], unique=False)
    _append_only()

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_ref', sa.String(length=255), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_BACKFILL_POSTGRESQL if postgres else _BACKFILL_SQLITE)
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index('ix_stripe_events_payment_ref', ['payment_ref', 'created'],
                              unique=False)

    for table, name, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # SQLSTATE 23001 (restrict_violation): an integrity error, as on SQLite.
        op.execute("""
            CREATE FUNCTION customer_notes_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'customer_notes is append-only: % refused', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$""")
        op.execute("""
            CREATE TRIGGER customer_notes_append_only
            BEFORE UPDATE OR DELETE ON customer_notes
            FOR EACH ROW EXECUTE FUNCTION customer_notes_append_only()""")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER customer_notes_no_{verb.lower()}
            BEFORE {verb} ON customer_notes
            BEGIN
                SELECT RAISE(ABORT, 'customer_notes is append-only: {verb} refused');
            END""")


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stripe_events_payment_ref')
        batch_op.drop_column('payment_ref')

    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER customer_notes_append_only ON customer_notes")
        op.execute("DROP FUNCTION customer_notes_append_only()")
    else:
        op.execute("DROP TRIGGER customer_notes_no_update")
        op.execute("DROP TRIGGER customer_notes_no_delete")
    with op.batch_alter_table('customer_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_notes_customer')
    op.drop_table('customer_notes')

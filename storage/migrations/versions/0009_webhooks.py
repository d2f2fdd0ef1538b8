"""webhook_endpoints and webhook_deliveries: a tenant's webhooks and each event's message to each of them; on
PostgreSQL a trigger that NOTIFYs the deliverers when events commit

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# storage/deliverer.py LISTENs on this channel.
_NOTIFY = """
CREATE FUNCTION scim_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('scim_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION scim_events_notify();
"""


def upgrade() -> None:
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('kinds', sa.String(length=1000), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('disabled_at', sa.DateTime(), nullable=True),
        sa.Column('disabled_reason', sa.String(length=500), nullable=True),
        sa.Column('cursor', sa.BigInteger(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_webhook_endpoints_tenant_id_tenants',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_webhook_endpoints'),
    )
    op.create_index('ix_webhook_endpoints_tenant_id', 'webhook_endpoints', ['tenant_id'])
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('resource_key', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=True),
        sa.Column('response_excerpt', sa.String(length=500), nullable=True),
        sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'],
                                name='fk_webhook_deliveries_endpoint_id_webhook_endpoints', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name='fk_webhook_deliveries_event_id_events',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_webhook_deliveries'),
        sa.UniqueConstraint('endpoint_id', 'event_id', name='uq_webhook_deliveries_endpoint_id_event_id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_webhook_deliveries_event_id', 'webhook_deliveries', ['event_id'])
    pending = sa.text("status = 'pending'")
    op.create_index('ix_webhook_deliveries_pending_event_id', 'webhook_deliveries', ['event_id'],
                    postgresql_where=pending, sqlite_where=pending)
    op.create_index('ix_webhook_deliveries_pending_resource', 'webhook_deliveries',
                    ['endpoint_id', 'resource_key', 'event_id'], postgresql_where=pending, sqlite_where=pending)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_NOTIFY)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER events_notify ON events")
        op.execute("DROP FUNCTION scim_events_notify()")
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')

"""the mass-deprovisioning guard: tenant_guards (settings, scan position, window), guard_holds, guard_dropped

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('tenant_guards',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('max_deprovisions', sa.Integer(), nullable=True),
    sa.Column('window_seconds', sa.Integer(), nullable=True),
    sa.Column('scanned_through', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('window', DOCUMENT, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_guards_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_tenant_guards'))
    )
    op.create_table('guard_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('first_event_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('summary', DOCUMENT, nullable=False),
    sa.Column('tripped_at', storage.models.UtcDateTime(), nullable=False),
    sa.Column('released_at', storage.models.UtcDateTime(), nullable=True),
    sa.Column('released_through', sa.BigInteger(), nullable=True),
    sa.Column('net', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_guard_holds_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guard_holds')),
    sa.UniqueConstraint('tenant_id', 'first_event_id', name=op.f('uq_guard_holds_tenant_id_first_event_id'))
    )
    op.create_table('guard_dropped',
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('hold_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['hold_id'], ['guard_holds.id'], name=op.f('fk_guard_dropped_hold_id_guard_holds'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_guard_dropped'))
    )
    with op.batch_alter_table('guard_dropped', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guard_dropped_hold_id'), ['hold_id'], unique=False)
    # The guard judges what happens from now on: existing tenants' history is scanned already, or an old burst would
    # hold every delivery from it on. A tenant created later has no history, and is scanned from its first event.
    op.execute(sa.text(
        "INSERT INTO tenant_guards (tenant_id, enabled, scanned_through) "
        "SELECT tenants.id, true, COALESCE((SELECT max(events.id) FROM events WHERE events.tenant_id = tenants.id), 0) "
        "FROM tenants"))


def downgrade() -> None:
    with op.batch_alter_table('guard_dropped', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guard_dropped_hold_id'))
    op.drop_table('guard_dropped')
    op.drop_table('guard_holds')
    op.drop_table('tenant_guards')

"""tenant extension schemas: tenant_schemas, and tenants.schemas_version for the workers' registry caches

Revision ID: 0005
Revises: 0003 (the order is 0001 → 0004 → 0003 → 0005: see storage/migrations/env.py)
Create Date: 2026-11-23 12:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in a batch, as in downgrade(): SQLite adds a column in place.
    op.add_column('tenants', sa.Column('schemas_version', sa.Integer(), server_default='0', nullable=False))

    op.create_table('tenant_schemas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('urn', sa.Text(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
              nullable=False),
    sa.Column('created_at', storage.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_schemas_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_schemas')),
    sa.UniqueConstraint('tenant_id', 'urn', name=op.f('uq_tenant_schemas_tenant_id_urn'))
    )


def downgrade() -> None:
    op.drop_table('tenant_schemas')
    # Not in a batch: on SQLite a batch copies `tenants` and drops the original, and that drop cascades to every row
    # referencing a tenant. SQLite 3.35+ drops the column in place.
    op.drop_column('tenants', 'schemas_version')

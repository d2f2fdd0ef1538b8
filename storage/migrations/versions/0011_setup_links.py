"""setup links: expiring, revocable links to a tenant's setup page, stored as SHA-256 like tokens

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:30:00
"""
import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('setup_links',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', storage.models.UtcDateTime(), nullable=False),
    sa.Column('expires_at', storage.models.UtcDateTime(), nullable=False),
    sa.Column('revoked_at', storage.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_setup_links_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_setup_links')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_setup_links_secret_hash'))
    )
    with op.batch_alter_table('setup_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_setup_links_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('setup_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_setup_links_tenant_id'))
    op.drop_table('setup_links')

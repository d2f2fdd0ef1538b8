"""request_journal: the requests of a watched tenant (live status) and, while captured, their bodies

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('request_journal',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', storage.models.UtcDateTime(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('path', sa.String(length=2048), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('facts', _DOCUMENT, nullable=False),
    sa.Column('captured', _DOCUMENT, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_request_journal_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_journal')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('request_journal', schema=None) as batch_op:
        batch_op.create_index('ix_request_journal_tenant_id_id', ['tenant_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('request_journal', schema=None) as batch_op:
        batch_op.drop_index('ix_request_journal_tenant_id_id')
    op.drop_table('request_journal')

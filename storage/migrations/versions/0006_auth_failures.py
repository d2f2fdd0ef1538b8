"""failed SCIM authentications counted per client address and minute: auth_failures

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 21:30:00
"""
import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_failures',
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('minute', storage.models.UtcDateTime(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('client_ip', 'minute', name=op.f('pk_auth_failures'))
    )
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_failures_minute'), ['minute'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_failures_minute'))
    op.drop_table('auth_failures')

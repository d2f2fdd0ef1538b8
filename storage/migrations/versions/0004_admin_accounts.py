"""admin accounts: console sign-in, sessions and sign-in failures

Revision ID: 0004
Revises: 0001 (the order is 0001 → 0004 → 0003 → 0005: see storage/migrations/env.py)
Create Date: 2026-11-23 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', storage.models.UtcDateTime(), nullable=False),
    sa.Column('last_sign_in_at', storage.models.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admins')),
    sa.UniqueConstraint('email', name=op.f('uq_admins_email'))
    )
    op.create_table('admin_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('admin_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models.UtcDateTime(), nullable=False),
    sa.Column('expires_at', storage.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['admin_id'], ['admins.id'], name=op.f('fk_admin_sessions_admin_id_admins'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_sessions'))
    )
    with op.batch_alter_table('admin_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_sessions_admin_id'), ['admin_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_sessions_expires_at'), ['expires_at'], unique=False)

    op.create_table('admin_sign_in_failures',
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', storage.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_admin_sign_in_failures'))
    )
    with op.batch_alter_table('admin_sign_in_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_sign_in_failures_window_start'), ['window_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('admin_sign_in_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_sign_in_failures_window_start'))
    op.drop_table('admin_sign_in_failures')
    with op.batch_alter_table('admin_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_sessions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_admin_sessions_admin_id'))
    op.drop_table('admin_sessions')
    op.drop_table('admins')

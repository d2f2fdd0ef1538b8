"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 09:22:56.458070
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', storage.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('name', name=op.f('uq_tenants_name'))
    )
    op.create_table('groups',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('display_name_key', sa.Text(), nullable=False),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('doc', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created', storage.models.UtcDateTime(), nullable=False),
    sa.Column('last_modified', storage.models.UtcDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_groups_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_groups')),
    sa.UniqueConstraint('tenant_id', 'display_name_key', name=op.f('uq_groups_tenant_id_display_name_key'))
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.create_index('ix_groups_tenant_id_external_id', ['tenant_id', 'external_id'], unique=False)
        batch_op.create_index('ix_groups_tenant_id_id', ['tenant_id', 'id'], unique=False)
        batch_op.create_index('ix_groups_tenant_id_last_modified', ['tenant_id', 'last_modified'], unique=False)

    op.create_table('tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', storage.models.UtcDateTime(), nullable=False),
    sa.Column('expires_at', storage.models.UtcDateTime(), nullable=True),
    sa.Column('revoked_at', storage.models.UtcDateTime(), nullable=True),
    sa.Column('last_used_at', storage.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tokens_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tokens')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_tokens_secret_hash'))
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('user_name', sa.Text(), nullable=False),
    sa.Column('user_name_key', sa.Text(), nullable=False),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('display_name', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.Column('doc', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=True),
    sa.Column('created', storage.models.UtcDateTime(), nullable=False),
    sa.Column('last_modified', storage.models.UtcDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_users_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('tenant_id', 'user_name_key', name=op.f('uq_users_tenant_id_user_name_key'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_tenant_id_active', ['tenant_id', 'active'], unique=False)
        batch_op.create_index('ix_users_tenant_id_created', ['tenant_id', 'created'], unique=False)
        batch_op.create_index('ix_users_tenant_id_display_name', ['tenant_id', 'display_name'], unique=False)
        batch_op.create_index('ix_users_tenant_id_external_id', ['tenant_id', 'external_id'], unique=False)
        batch_op.create_index('ix_users_tenant_id_id', ['tenant_id', 'id'], unique=False)
        batch_op.create_index('ix_users_tenant_id_last_modified', ['tenant_id', 'last_modified'], unique=False)

    op.create_table('group_members',
    sa.Column('group_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_members_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_group_members_member_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_group_members_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'member_id', name=op.f('pk_group_members'))
    )
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.create_index('ix_group_members_member_id', ['member_id'], unique=False)

    op.create_table('user_emails',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('value_key', sa.Text(), nullable=True),
    sa.Column('type', sa.Text(), nullable=True),
    sa.Column('primary', sa.Boolean(), nullable=True),
    sa.Column('display', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_user_emails_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_emails_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'position', name=op.f('pk_user_emails'))
    )
    with op.batch_alter_table('user_emails', schema=None) as batch_op:
        batch_op.create_index('ix_user_emails_tenant_id_value_key', ['tenant_id', 'value_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('user_emails', schema=None) as batch_op:
        batch_op.drop_index('ix_user_emails_tenant_id_value_key')

    op.drop_table('user_emails')
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_index('ix_group_members_member_id')

    op.drop_table('group_members')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_tenant_id_last_modified')
        batch_op.drop_index('ix_users_tenant_id_id')
        batch_op.drop_index('ix_users_tenant_id_external_id')
        batch_op.drop_index('ix_users_tenant_id_display_name')
        batch_op.drop_index('ix_users_tenant_id_created')
        batch_op.drop_index('ix_users_tenant_id_active')

    op.drop_table('users')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_tenant_id'))

    op.drop_table('tokens')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_index('ix_groups_tenant_id_last_modified')
        batch_op.drop_index('ix_groups_tenant_id_id')
        batch_op.drop_index('ix_groups_tenant_id_external_id')

    op.drop_table('groups')
    op.drop_table('tenants')

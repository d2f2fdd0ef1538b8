"""events.snapshot: the resource as of the event (its SCIM representation and version, and a membership event's
complete member ids), for webhook messages; tenants.watch_until and tenants.capture_until: until when a tenant's
requests are recorded for its setup page's live status, and captured with their bodies

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in a batch, as in downgrade(): SQLite adds a column in place.
    op.add_column('events', sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                      nullable=True))
    op.add_column('tenants', sa.Column('watch_until', sa.DateTime(), nullable=True))
    op.add_column('tenants', sa.Column('capture_until', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('events', 'snapshot')
    op.drop_column('tenants', 'capture_until')
    op.drop_column('tenants', 'watch_until')

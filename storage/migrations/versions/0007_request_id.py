"""events.request_id: the id of the request an event comes from, as in the log and the X-Request-Id header

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in a batch, as in downgrade(): SQLite adds a column in place.
    op.add_column('events', sa.Column('request_id', sa.String(length=128), nullable=True))


def downgrade() -> None:
    # Not in a batch: a batch would copy `events` and drop the original. SQLite 3.35+ drops the column in place.
    op.drop_column('events', 'request_id')

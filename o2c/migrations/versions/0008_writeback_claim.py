"""write-back outbox: commands are claimed before they are sent (status 'sending', claimed_by, claimed_at)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 09:00:00

The statuses are plain strings (no CHECK constraint), so 'sending' needs no schema change; the
two columns name the pusher that holds a command and since when, so that a claim left by a
pusher that died can be recognised as stale and taken over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('writeback_command', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # the code before 0008 knows no claims: a command in flight goes back to pending, and the
    # ERP connector finds it by its key if it was already applied
    op.execute("UPDATE writeback_command SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table('writeback_command', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claimed_by')

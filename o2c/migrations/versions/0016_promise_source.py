"""promise source: a promise to pay synced from a CRM task keeps the source and the task id (unique)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment_promise') as batch:
        batch.add_column(sa.Column('source', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('source_id', sa.String(length=100), nullable=True))
        batch.create_unique_constraint('uq_payment_promise_source', ['source', 'source_id'])


def downgrade() -> None:
    with op.batch_alter_table('payment_promise') as batch:
        batch.drop_constraint('uq_payment_promise_source', type_='unique')
        batch.drop_column('source_id')
        batch.drop_column('source')

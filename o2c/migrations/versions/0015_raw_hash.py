"""raw_hash on invoice and customer: the source record and the mapping that made the stored version

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:00:00

A sync hashes each pulled record together with its mapping file and the mapping code
(``o2c.jobs.sync.raw_key``) and keeps the hash beside the row: a record pulled again unchanged is
then counted ``unchanged`` without being mapped, validated and hashed again. Rows stored before
this revision have none and are mapped once more on their next pull.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('invoice', 'customer'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('raw_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ('customer', 'invoice'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('raw_hash')

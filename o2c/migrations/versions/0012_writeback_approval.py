"""write-back approvals: writeback_approval, writeback_command.approval_id; statuses awaiting_approval, refused

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 10:00:00

One row per decision of a person over outbox commands (who, when, approved or refused, the reason,
from the command line, the review page or Airflow, the commands it covers); each command keeps the
approval that decided it. The statuses are plain strings (no CHECK constraint): 'awaiting_approval'
and 'refused' need no schema change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'writeback_approval',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('decision', sa.String(length=20), nullable=False),
        sa.Column('decided_by', sa.String(length=200), nullable=False),
        sa.Column('decided_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('via', sa.String(length=20), nullable=False),
        sa.Column('commands', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_writeback_approval')),
    )
    op.create_index('ix_writeback_approval_source', 'writeback_approval', ['source', 'decided_at'], unique=False)
    with op.batch_alter_table('writeback_command', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_writeback_command_approval_id_writeback_approval'),
                                    'writeback_approval', ['approval_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    # the code before 0012 knows no approval: a command still waiting would be sent by it, so it
    # is marked failed with the reason instead (a refused one too: it must never be sent)
    op.execute("UPDATE writeback_command SET status = 'failed', last_error = 'waited for an approval when the store "
               "was downgraded below 0012; not sent' WHERE status IN ('awaiting_approval', 'refused')")
    with op.batch_alter_table('writeback_command', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_writeback_command_approval_id_writeback_approval'), type_='foreignkey')
        batch_op.drop_column('approval_id')
    op.drop_index('ix_writeback_approval_source', table_name='writeback_approval')
    op.drop_table('writeback_approval')

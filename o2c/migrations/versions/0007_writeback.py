"""write-back outbox: commands to send to source systems (payments of applied cash)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('writeback_command',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('allocation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('remote_ref', sa.String(length=200), nullable=True),
    sa.Column('created_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['allocation_id'], ['cash_allocation.id'], name=op.f('fk_writeback_command_allocation_id_cash_allocation'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_writeback_command')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_writeback_command_idempotency_key'))
    )
    with op.batch_alter_table('writeback_command', schema=None) as batch_op:
        batch_op.create_index('ix_writeback_command_source_status', ['source', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('writeback_command', schema=None) as batch_op:
        batch_op.drop_index('ix_writeback_command_source_status')
    op.drop_table('writeback_command')

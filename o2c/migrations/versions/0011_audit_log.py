"""audit trail: an append-only, hash-chained log (audit_log)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 23:50:00

One row per entry: its number in the chain, time, actor, action, subject, details (JSON), the
previous entry's hash and its own (o2c/store/audit.py). ``seq`` and ``prev_hash`` are unique:
the chain cannot fork.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=100), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
        sa.UniqueConstraint('seq', name='uq_audit_log_seq'),
        sa.UniqueConstraint('prev_hash', name='uq_audit_log_prev_hash'),
    )
    op.create_index('ix_audit_log_subject', 'audit_log', ['subject'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_subject', table_name='audit_log')
    op.drop_table('audit_log')

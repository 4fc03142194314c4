"""reviewer decisions on cash allocations; unapplied cash resolved by a reviewer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cash_review_decision',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bank_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bank_ref', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('customer_key', sa.String(length=100), nullable=False),
    sa.Column('previous_customer_key', sa.String(length=100), nullable=True),
    sa.Column('invoice_numbers', sa.Text(), nullable=False),
    sa.Column('payer_name', sa.String(length=200), nullable=True),
    sa.Column('payer_iban', sa.String(length=50), nullable=True),
    sa.Column('reviewer', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('decided_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_entry_id'], ['bank_entry.id'], name=op.f('fk_cash_review_decision_bank_entry_id_bank_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_review_decision'))
    )
    with op.batch_alter_table('cash_review_decision', schema=None) as batch_op:
        batch_op.create_index('ix_cash_review_decision_entry', ['bank_entry_id'], unique=False)
    with op.batch_alter_table('cash_unapplied', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cash_unapplied', schema=None) as batch_op:
        batch_op.drop_column('resolved_at')
    with op.batch_alter_table('cash_review_decision', schema=None) as batch_op:
        batch_op.drop_index('ix_cash_review_decision_entry')
    op.drop_table('cash_review_decision')

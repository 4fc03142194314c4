"""dunning: reminders (one per customer, currency and day) and the overdue invoices left out, with why

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    amount = o2c.store.models.Amount
    op.create_table(
        'dunning_reminder',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=True),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('customer_id', sa.String(length=200), nullable=False),
        sa.Column('customer_name', sa.String(length=250), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('due', amount(), nullable=False),
        sa.Column('credits', amount(), nullable=False),
        sa.Column('interest', amount(), nullable=False),
        sa.Column('indemnity', amount(), nullable=False),
        sa.Column('total', amount(), nullable=False),
        sa.Column('lines', sa.JSON(), nullable=False),
        sa.Column('credit_notes', sa.JSON(), nullable=False),
        sa.Column('language', sa.String(length=35), nullable=True),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('sent_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dunning_reminder')),
        sa.UniqueConstraint('key', name=op.f('uq_dunning_reminder_key')),
    )
    op.create_index('ix_dunning_reminder_customer', 'dunning_reminder', ['customer_id', 'currency', 'as_of'], unique=False)
    op.create_index('ix_dunning_reminder_status', 'dunning_reminder', ['status'], unique=False)
    op.create_table(
        'dunning_skip',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=True),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('invoice_id', _ID, nullable=False),
        sa.Column('invoice_number', sa.String(length=100), nullable=False),
        sa.Column('customer_id', sa.String(length=200), nullable=False),
        sa.Column('rule', sa.String(length=30), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_dunning_skip_invoice_id_invoice'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dunning_skip')),
    )
    op.create_index('ix_dunning_skip_as_of', 'dunning_skip', ['as_of', 'invoice_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_dunning_skip_as_of', table_name='dunning_skip')
    op.drop_table('dunning_skip')
    op.drop_index('ix_dunning_reminder_status', table_name='dunning_reminder')
    op.drop_index('ix_dunning_reminder_customer', table_name='dunning_reminder')
    op.drop_table('dunning_reminder')

"""collections: disputes (litiges) and promises to pay

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:00:00

``dispute``: one per invoice at a time while open (status open / in_review / resolved, outcome
credit_note / rejected / paid), reason code and its UNCL 4465 adjustment code, owner, origin,
comments. ``payment_promise``: amount and date promised for invoices of one customer, status
open / kept / broken and what was paid since (o2c/store/collections.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'dispute',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('invoice_id', _ID, nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('invoice_number', sa.String(length=100), nullable=False),
        sa.Column('customer_key', sa.String(length=100), nullable=True),
        sa.Column('amount', o2c.store.models.Amount(), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason_code', sa.String(length=30), nullable=False),
        sa.Column('adjustment_code', sa.String(length=3), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('owner', sa.String(length=200), nullable=True),
        sa.Column('origin', sa.String(length=30), nullable=False),
        sa.Column('opened_by', sa.String(length=200), nullable=False),
        sa.Column('opened_on', sa.Date(), nullable=False),
        sa.Column('resolved_by', sa.String(length=200), nullable=True),
        sa.Column('resolved_on', sa.Date(), nullable=True),
        sa.Column('comments', sa.JSON(), nullable=False),
        sa.Column('created_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_dispute_invoice_id_invoice'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute')),
    )
    op.create_index('ix_dispute_invoice_status', 'dispute', ['invoice_id', 'status'], unique=False)
    op.create_table(
        'payment_promise',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('customer_key', sa.String(length=100), nullable=False),
        sa.Column('customer_name', sa.String(length=250), nullable=False),
        sa.Column('amount', o2c.store.models.Amount(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('promised_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('invoice_ids', sa.JSON(), nullable=False),
        sa.Column('taken_by', sa.String(length=200), nullable=False),
        sa.Column('origin', sa.String(length=30), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('paid_amount', o2c.store.models.Amount(), nullable=False),
        sa.Column('checked_on', sa.Date(), nullable=True),
        sa.Column('created_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_promise')),
    )
    op.create_index('ix_payment_promise_status', 'payment_promise', ['status', 'due_on'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payment_promise_status', table_name='payment_promise')
    op.drop_table('payment_promise')
    op.drop_index('ix_dispute_invoice_status', table_name='dispute')
    op.drop_table('dispute')

"""settlement state pulled from the source ERPs (invoice_settlement + its versions) and data-quality findings

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('invoice_settlement',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.String(length=250), nullable=False),
    sa.Column('invoice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('open_amount', o2c.store.models.Amount(precision=20, scale=6), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('settled_on', sa.Date(), nullable=True),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source_updated_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_run_id', sa.String(length=64), nullable=True),
    sa.Column('last_run_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_invoice_settlement_invoice_id_invoice'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_settlement')),
    sa.UniqueConstraint('source', 'source_id', name='uq_invoice_settlement_source')
    )
    with op.batch_alter_table('invoice_settlement', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_settlement_invoice', ['invoice_id'], unique=False)
        batch_op.create_index('ix_invoice_settlement_state', ['source', 'state'], unique=False)

    op.create_table('invoice_settlement_version',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('settlement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('open_amount', o2c.store.models.Amount(precision=20, scale=6), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('settled_on', sa.Date(), nullable=True),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source_updated_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['invoice_settlement.id'],
                            name=op.f('fk_invoice_settlement_version_settlement_id_invoice_settlement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_settlement_version')),
    sa.UniqueConstraint('settlement_id', 'version', name='uq_invoice_settlement_version')
    )

    op.create_table('data_quality_finding',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=50), nullable=False),
    sa.Column('source_id', sa.String(length=250), nullable=False),
    sa.Column('rule', sa.String(length=50), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('first_run_id', sa.String(length=64), nullable=True),
    sa.Column('last_run_id', sa.String(length=64), nullable=True),
    sa.Column('first_seen', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_quality_finding')),
    sa.UniqueConstraint('source', 'subject', 'source_id', 'rule', name='uq_data_quality_finding_identity')
    )
    with op.batch_alter_table('data_quality_finding', schema=None) as batch_op:
        batch_op.create_index('ix_data_quality_finding_open', ['source', 'resolved_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('data_quality_finding', schema=None) as batch_op:
        batch_op.drop_index('ix_data_quality_finding_open')
    op.drop_table('data_quality_finding')
    op.drop_table('invoice_settlement_version')
    with op.batch_alter_table('invoice_settlement', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_settlement_state')
        batch_op.drop_index('ix_invoice_settlement_invoice')
    op.drop_table('invoice_settlement')

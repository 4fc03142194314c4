"""customer master for collections, currency rates, KPIs and risk flags per currency

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-10 09:00:00

- ``customer``: ``payment_terms``, ``payment_days``, ``dunning_language``, ``blocked``,
  ``on_hold`` (the whole record, dunning contacts and reasons included, is in ``document``);
  ``payment_terms`` is filled from the stored documents that already had it;
- ``currency_rate``: the rates of the ``rates`` stream (source, its id, currency, date, rate,
  the source's company currency);
- ``kpi_daily``: keyed by (day, currency), with ``converted``; rows computed before, which summed
  amounts whatever their currency, get currency ``XXX`` (ISO 4217: no currency);
- ``risk_flag``: ``currency`` of the flag's amount, in its unique key.

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import o2c.store.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_terms', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('payment_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('dunning_language', sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column('blocked', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('on_hold', sa.Boolean(), nullable=True))
    customer = sa.table('customer', sa.column('id', sa.Integer), sa.column('document', sa.JSON),
                        sa.column('payment_terms', sa.String))
    conn = op.get_bind()
    for cid, document in conn.execute(sa.select(customer.c.id, customer.c.document)).all():
        terms = (document or {}).get('payment_terms')
        if terms:
            conn.execute(customer.update().where(customer.c.id == cid).values(payment_terms=str(terms)[:100]))

    op.create_table('currency_rate',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.String(length=250), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('rate', o2c.store.models.Amount(precision=20, scale=6), nullable=False),
    sa.Column('company_currency', sa.String(length=3), nullable=True),
    sa.Column('source_updated_at', o2c.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('updated_at', o2c.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_currency_rate')),
    sa.UniqueConstraint('source', 'source_id', name='uq_currency_rate_source'),
    sa.UniqueConstraint('source', 'currency', 'day', name='uq_currency_rate_day')
    )
    op.create_index('ix_currency_rate_currency_day', 'currency_rate', ['currency', 'day'], unique=False)

    with op.batch_alter_table('kpi_daily', schema=None, recreate='always') as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=False, server_default='XXX'))
        batch_op.add_column(sa.Column('converted', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_constraint('pk_kpi_daily', type_='primary')
        batch_op.create_primary_key('pk_kpi_daily', ['day', 'currency'])

    with op.batch_alter_table('risk_flag', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.drop_constraint('uq_risk_flag', type_='unique')
        batch_op.create_unique_constraint('uq_risk_flag', ['as_of', 'customer_key', 'kind', 'currency'])


def downgrade() -> None:
    # rows per currency do not fit the one-row-per-day table of 0008: only the company currency's
    # (or the pre-0010 'XXX') rows of a day are kept, one per day
    with op.batch_alter_table('risk_flag', schema=None) as batch_op:
        batch_op.drop_constraint('uq_risk_flag', type_='unique')
    op.execute("DELETE FROM risk_flag WHERE id NOT IN (SELECT MIN(id) FROM risk_flag GROUP BY as_of, customer_key, kind)")
    with op.batch_alter_table('risk_flag', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_risk_flag', ['as_of', 'customer_key', 'kind'])
        batch_op.drop_column('currency')
    op.execute("DELETE FROM kpi_daily WHERE converted = false AND day IN "
               "(SELECT day FROM kpi_daily GROUP BY day HAVING COUNT(*) > 1)")
    op.execute("DELETE FROM kpi_daily WHERE currency NOT IN (SELECT MIN(currency) FROM kpi_daily k2 WHERE k2.day = kpi_daily.day)")
    with op.batch_alter_table('kpi_daily', schema=None, recreate='always') as batch_op:
        batch_op.drop_constraint('pk_kpi_daily', type_='primary')
        batch_op.create_primary_key('pk_kpi_daily', ['day'])
        batch_op.drop_column('converted')
        batch_op.drop_column('currency')
    op.drop_index('ix_currency_rate_currency_day', table_name='currency_rate')
    op.drop_table('currency_rate')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('on_hold')
        batch_op.drop_column('blocked')
        batch_op.drop_column('dunning_language')
        batch_op.drop_column('payment_days')
        batch_op.drop_column('payment_terms')

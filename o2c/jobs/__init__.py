"""The hub's jobs, one module each: what a DAG task or an ``o2c`` command runs.

| module | job | DAG | command |
|---|---|---|---|
| ``sync`` | pull a source into the store (``settlements``: its settlements stream) | ``erp_invoice_sync`` | ``o2c sync SOURCE`` |
| ``bank`` | bank statements in, exactly once | ``bank_statement_ingest`` | ``o2c bank fetch BANK``, ``o2c bank ingest FILE`` |
| ``einvoice`` | e-invoices out, lifecycle statuses in | ``einvoice_outbound``, ``einvoice_status_inbound`` | ``o2c einvoice outbound``, ``o2c einvoice statuses`` |
| ``cash`` | cash application over the store | ``cash_application`` | ``o2c cash run`` |
| ``cash_review`` | a reviewer's accept / reject / re-allocate | review page | ``o2c cash-review`` |
| ``risk`` | risk flags and daily KPIs | ``risk_scoring`` | ``o2c risk run`` |
| ``writeback`` | applied cash back to the ERPs (outbox) | ``erp_writeback`` | ``o2c writeback push SOURCE`` |

A job is plain Python: it takes a :class:`o2c.store.Store` and its configuration, and never imports
Airflow. The glue in ``o2c_airflow`` and the commands in ``o2c.commands`` call the same functions.
"""

"""The hub's Airflow assets, defined once: the store tables a DAG updates and another DAG waits for.

A DAG that writes one of them lists it in a task's ``outlets``; a DAG that runs on it puts it in its
``schedule``. Both import it from here, so that a consumer cannot wait for a URI no producer emits
(tests/dags/test_assets.py checks every scheduled asset has a producer). DAG files import this module
at parse time: it imports nothing but the task SDK.
"""

from __future__ import annotations

from airflow.sdk import Asset

INVOICES = Asset("o2c://store/invoices")
"""Customers and invoices pulled from the sources (``erp_invoice_sync``); issues e-invoices."""

EINVOICES = Asset("o2c://store/einvoices")
"""E-invoices rendered, validated and delivered (``einvoice_outbound``)."""

BANK_STATEMENTS = Asset("o2c://store/bank_statements")
"""New bank statements stored (``bank_statement_ingest``); triggers cash application."""

ALLOCATIONS = Asset("o2c://store/cash_allocations")
"""Cash allocations stored (``cash_application``); triggers the ERP write-back and risk scoring."""

ALL: tuple[Asset, ...] = (INVOICES, EINVOICES, BANK_STATEMENTS, ALLOCATIONS)

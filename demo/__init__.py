"""The demo of ``make demo`` (``python -m demo``): a seeded Tryton ERP, a bank statement, the DAGs run once.

It runs from a checkout and is not part of the wheel: the library (``o2c``, ``schemas``...) and the Airflow
glue (``o2c_airflow``) never import it; the tests and the benchmarks do, for the live Tryton they need.

- :mod:`demo.cli`: the ``python -m demo [run|ui]`` command;
- :mod:`demo.bank`: the camt.053 statement paying some of the demo invoices;
- :mod:`demo.tryton`: the seeded Tryton 8.2 server (the ``demo`` extra: trytond, proteus, modules).
"""

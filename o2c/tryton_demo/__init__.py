"""A live Tryton 8.2 ERP seeded with French order-to-cash data, for the demo and the tests.

- :mod:`o2c.tryton_demo.seed` seeds an activated database in-process with proteus
  (``python -m o2c.tryton_demo.seed --config CONF --database NAME``).
- :mod:`o2c.tryton_demo.server` builds and caches the activated template, prepares a seeded copy
  and runs ``trytond`` on loopback (:class:`~o2c.tryton_demo.server.TrytonServer`).

Neither module imports trytond at import time: trytond and proteus run in child processes.
"""

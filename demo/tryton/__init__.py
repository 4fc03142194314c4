"""A live Tryton 8.2 ERP seeded with French order-to-cash data, for the demo and the tests.

- :mod:`demo.tryton.seed` seeds an activated database in-process with proteus
  (``python -m demo.tryton.seed --config CONF --database NAME``).
- :mod:`demo.tryton.server` builds and caches the activated template, prepares a seeded copy
  and runs ``trytond`` on loopback (:class:`~demo.tryton.server.TrytonServer`).

Neither module imports trytond at import time: trytond and proteus run in child processes.
"""

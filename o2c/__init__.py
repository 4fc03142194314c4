"""o2c-hub application layer: settings, the hub store, sync orchestration and the ``o2c`` CLI.

The canonical model lives in :mod:`schemas`, formats in :mod:`edi`, external systems in
:mod:`connectors`, matching in :mod:`matching`. Nothing here imports Airflow.
"""

__version__ = "0.1.0"

"""Airflow glue of o2c-hub: hooks turning connection ids into connectors, task runtimes, the assets.

Installed with the wheel (the ``airflow`` extra) and discovered by Airflow as a provider package
(:mod:`o2c_airflow.provider`). Only this package, ``dags/`` and ``plugins/`` import Airflow; the
library never imports this package. Everything here is thin: it reads Airflow's context and
connections, calls the plain library, and translates the library's errors into Airflow's
(fatal -> fail without retry; retriable -> fail with retry).
"""

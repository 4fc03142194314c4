"""Airflow glue of o2c-hub: hooks turning connection ids into connectors, and task runtimes.

Only this package and ``dags/`` import Airflow. Everything here is thin: it reads Airflow's
context and connections, calls the plain library, and translates the library's errors into
Airflow's (fatal -> fail without retry; retriable -> fail with retry).
"""

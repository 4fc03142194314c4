"""The o2c-hub Airflow plugin (the finance review pages will be added here)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from o2c_airflow.hooks import O2CSourceHook


class O2CPlugin(AirflowPlugin):
    name = "o2c"
    hooks = [O2CSourceHook]

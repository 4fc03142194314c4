"""The o2c-hub Airflow plugin: the finance review pages (under /o2c) in the Airflow UI.

UI only: the hooks and their connection type come from the installed package (``o2c_airflow``, an
Airflow provider, see :mod:`o2c_airflow.provider`), not from this plugin.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from o2c_airflow.review import app as review_app


class O2CPlugin(AirflowPlugin):
    name = "o2c"
    fastapi_apps = [{"app": review_app, "url_prefix": "/o2c", "name": "o2c-hub review"}]
    external_views = [{"name": "O2C sync review", "href": "/o2c/", "url_route": "o2c",
                       "destination": "nav", "nav_top_level": True}]

"""o2c_airflow as an Airflow provider: the provider info Airflow reads through the entry point is valid
and names real hooks (tests/test_wheel.py checks ProvidersManager finds it in an installed wheel)."""

from __future__ import annotations

import importlib
import tomllib

import pytest

from tests.fixtures_airflow import REPO

pytestmark = pytest.mark.airflow


def test_entry_point_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["apache_airflow_provider"] == {"provider_info": "o2c_airflow.provider:get_provider_info"}


def test_provider_info_is_valid_for_airflow():
    from airflow.providers_manager import _create_provider_info_schema_validator

    from o2c_airflow.provider import get_provider_info

    info = get_provider_info()
    _create_provider_info_schema_validator().validate(info)  # what ProvidersManager does at discovery
    assert info["package-name"] == "o2c-hub"  # must be the distribution's name, or discovery fails
    for entry in info["connection-types"]:
        module, _, name = entry["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == entry["connection-type"] and hook.hook_name == entry["hook-name"]
    assert [e["connection-type"] for e in info["connection-types"]] == ["o2c_source"]
    for entry in info["hooks"]:
        for module in entry["python-modules"]:
            importlib.import_module(module)

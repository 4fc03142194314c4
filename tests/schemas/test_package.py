"""The ``schemas`` package: every public name resolves, and loading is lazy."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import schemas


@pytest.mark.parametrize("name", schemas.__all__)
def test_every_public_name_is_its_modules_object(name: str) -> None:
    value = getattr(schemas, name)
    module = importlib.import_module(value.__module__)
    assert getattr(module, name) is value
    assert name in dir(schemas)


def test_the_lazy_table_names_exactly_the_public_names() -> None:
    assert sorted(schemas._WHERE) == sorted(schemas.__all__)


def test_the_model_modules_are_attributes_of_the_package_as_before() -> None:
    code = ("import schemas; print(schemas.invoice.Invoice.__name__, schemas.statement.BankEntry.__name__, "
            "schemas.money.Money.__name__, schemas.party.Customer.__name__, schemas.errors.HubError.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["Invoice", "BankEntry", "Money", "Customer", "HubError"]


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        schemas.Nope  # noqa: B018


def test_star_import_gives_every_public_name() -> None:
    ns: dict[str, object] = {}
    exec("from schemas import *", ns)
    assert set(schemas.__all__) <= set(ns)


def test_a_bank_parser_does_not_load_the_invoice_model() -> None:
    code = "import sys, edi.bai2, edi.mt940; print('schemas.invoice' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

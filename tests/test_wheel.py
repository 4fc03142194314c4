"""The built wheel installs and runs on its own: ``pip install o2c-hub`` is not a checkout.

The wheel is built from the project's files (as in a fresh clone), installed with ``--no-deps`` into a
fresh venv in tmp_path, and its commands run from outside the repository with no PYTHONPATH, so
nothing comes from the checkout. So that nothing is downloaded, the venv sees the running
interpreter's site-packages through a ``.pth`` file (the dependencies, not o2c-hub itself: a ``.pth``
there is not processed, so the checkout's editable install stays out). That proves "it runs"; a
second check proves "its declared dependencies cover its imports": every third-party module the
wheel's code imports (an AST scan of the wheel) belongs to a distribution in its ``Requires-Dist``.
The Airflow glue (``o2c_airflow``) ships too, as an Airflow provider Airflow discovers; the demo does not.

Building uses pip's build isolation, like ``make install``: the build backend (setuptools, see
``[build-system]``) comes from the package index.
"""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# the library packages, as pyproject.toml's packages.find lists them
LIBRARY = ("o2c", "schemas", "edi", "connectors", "mappings", "matching", "transport")
# the Airflow glue, also in the wheel: what only it imports may come from the `airflow` extra
GLUE = "o2c_airflow"
PACKAGES = (*LIBRARY, GLUE)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_files() -> list[str]:
    """What a fresh clone holds of the wheel's inputs (tracked files, plus new ones not yet committed)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--",
                          "pyproject.toml", "README.md", "LICENSE", *PACKAGES],
                         cwd=REPO, capture_output=True, check=True).stdout.decode()
    return sorted(p for p in set(out.split("\0")) if p and (REPO / p).is_file())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built by pip from a copy of the project's files (no build/ or egg-info in the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for rel in _project_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (built,) = (tmp / "dist").glob("o2c_hub-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; the dependencies come from the running interpreter's site-packages."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(purelib) / "zz_o2c_test_dependencies.pth").write_text("".join(f"{p}\n" for p in deps))
    return root


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("O2C_")}
    env["O2C_HOME"] = str(cwd / "home")
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_installed_wheel_runs_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    o2c = str(venv / "bin" / "o2c")
    where = _run(venv, str(venv / "bin" / "python"), "-c",
                 f"import importlib; print('\\n'.join(importlib.import_module(m).__file__ for m in {LIBRARY!r}))",
                 cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert all(Path(f).is_relative_to(venv) for f in where.stdout.split()), where.stdout

    usage = _run(venv, o2c, "--help", cwd=tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert "einvoice" in usage.stdout and "bank" in usage.stdout

    statement = _run(venv, o2c, "bank", "parse", str(FIXTURES / "bank/camt053/genkgo/camt053.v2.multi.statement.xml"),
                     cwd=tmp_path)
    assert statement.returncode == 0, statement.stderr
    assert "camt.053.001.02 NL26VAYB8060476890 253EURNL26VAYB8060476890 EUR opening 18.15 closing 27.00" in statement.stdout

    # XSD + CEN EN 16931 schematron (edi/artefacts/en16931-cii)
    cii = FIXTURES / "einvoice/cen-tc434/cii/CII_example1.xml"
    valid = _run(venv, o2c, "einvoice", "validate", str(cii), cwd=tmp_path)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "VALID (cii" in valid.stdout

    # ZUGFeRD 1.0: its XSD lives in edi/artefacts/zugferd-1.0 (a folder name that is no package name)
    zugferd1 = _run(venv, o2c, "einvoice", "validate", str(FIXTURES / "einvoice/akretion-factur-x/cii/zugferd-comfort.xml"),
                    cwd=tmp_path)
    assert zugferd1.returncode == 0, zugferd1.stdout + zugferd1.stderr
    assert "VALID (zugferd1" in zugferd1.stdout

    # Factur-X PDF/A-3 rendering reads the fonts and the sRGB ICC profile of edi/artefacts
    parsed = _run(venv, o2c, "einvoice", "parse", "--json", str(cii), cwd=tmp_path)
    assert parsed.returncode == 0, parsed.stderr
    (tmp_path / "invoice.json").write_text(parsed.stdout, encoding="utf-8")
    rendered = _run(venv, o2c, "einvoice", "render", "invoice.json", "--format", "facturx-en16931", "-o", "invoice.pdf",
                    cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    pdf = _run(venv, o2c, "einvoice", "validate", "invoice.pdf", cwd=tmp_path)
    assert pdf.returncode == 0 and "VALID (cii, profile en16931" in pdf.stdout, pdf.stdout + pdf.stderr

    # the store's Alembic migrations (o2c/migrations) and the mapping YAML (mappings/<kind>/)
    store = _run(venv, o2c, "db", "upgrade", cwd=tmp_path)
    assert store.returncode == 0 and "at revision" in store.stdout, store.stdout + store.stderr
    mapping = _run(venv, o2c, "mapping", "check", "tryton", cwd=tmp_path)
    assert mapping.returncode == 0 and "ok  " in mapping.stdout, mapping.stdout + mapping.stderr


def test_wheel_carries_every_file_of_the_packages(wheel: Path) -> None:
    """Validation artefacts, fonts, ICC profile, mapping YAML, SQL queries, migrations: all of it ships."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [p for p in _project_files() if p.startswith(tuple(f"{pkg}/" for pkg in PACKAGES)) and p not in names]
    assert missing == []
    assert "o2c_airflow/templates/review.html" in names


def test_the_demo_is_not_in_the_wheel(wheel: Path) -> None:
    """demo/ (its Tryton ERP, its bank statement) runs from a checkout: not shipped, not imported."""
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if n.startswith("demo/")] == []
    assert "demo" not in _imports(wheel)


def test_airflow_discovers_the_installed_provider(venv: Path, tmp_path: Path) -> None:
    """The entry point of the installed wheel: ProvidersManager lists o2c-hub and its connection type."""
    code = ("from airflow.providers_manager import ProvidersManager\n"
            "pm = ProvidersManager()\n"
            "print('version:', pm.providers['o2c-hub'].version)\n"
            "hook = pm.hooks['o2c_source']\n"  # what the connection form lists
            "print('hook:', hook.hook_class_name, hook.package_name, hook.hook_name)\n")
    proc = _run(venv, str(venv / "bin" / "python"), "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if line.startswith(("version: ", "hook: ")))
    version, hook = found.get("version"), found.get("hook")
    assert version == importlib.metadata.version("o2c-hub")
    assert hook == "o2c_airflow.hooks.O2CSourceHook o2c-hub o2c-hub source"


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(zf.read(name).decode("utf-8"))


def _declared(meta: email.message.Message, extra: str | None = None) -> set[str]:
    """Distributions required without an extra, or (given one) with that extra."""
    out = set()
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if extra is None:
            wanted = req.marker is None
        else:
            wanted = req.marker is not None and req.marker.evaluate({"extra": extra})
        if wanted:
            out.add(_norm(req.name))
    return out


def _imports(wheel: Path) -> dict[str, set[str]]:
    """Top-level modules imported by the wheel's code (statements anywhere, and import_module("literal")) -> files."""
    found: dict[str, set[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.endswith(".py"):
                continue
            for node in ast.walk(ast.parse(zf.read(name), name)):
                mods: list[str] = []
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
                      and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                    mods = [node.args[0].value]
                for mod in mods:
                    found.setdefault(mod.split(".")[0], set()).add(name)
    return found


def test_licence_metadata(wheel: Path) -> None:
    """The SPDX expression (PEP 639), the hub's licence and those of the third-party artefacts it ships."""
    meta = _metadata(wheel)
    assert meta["License-Expression"] == "Apache-2.0"
    files = meta.get_all("License-File") or []
    assert "LICENSE" in files and "edi/artefacts/fonts/LICENSE-DejaVu.txt" in files
    with zipfile.ZipFile(wheel) as zf:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in zf.namelist())


def test_declared_dependencies_cover_the_imports(wheel: Path) -> None:
    meta = _metadata(wheel)
    core, airflow, demo = _declared(meta), _declared(meta, "airflow"), _declared(meta, "demo")
    own = set(PACKAGES)
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for mod, files in sorted(_imports(wheel).items()):
        if mod in own or mod in sys.stdlib_module_names:
            continue
        dists = {_norm(d) for d in providers.get(mod, [])}
        allowed = core if any(not f.startswith(f"{GLUE}/") for f in files) else core | airflow
        if not dists & allowed:
            undeclared[mod] = (sorted(dists) or "not installed", sorted(files)[:3])
    assert undeclared == {}
    # DBAPI drivers are named in SQLAlchemy URLs only (postgresql+psycopg://, mysql+pymysql://): extras
    assert "psycopg" in _declared(meta, "postgres") and "pymysql" in _declared(meta, "mysql")
    # the demo (not in the wheel) runs from a checkout with the `demo` extra: the Tryton ERP
    assert "apache-airflow" in airflow and {"trytond", "proteus"} <= demo

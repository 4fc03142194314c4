"""``.venv/bin/python -m demo ui`` as a newcomer runs it: from the clone, no activated venv.

The demo runs in a session of its own (as in a terminal), with a PATH that does not hold the venv,
a temporary O2C_HOME (so its Airflow home too) and a free port. Once the Airflow UI answers, it is
stopped as a user would (Ctrl-C: SIGINT to the terminal's foreground process group) or as a service
manager would (SIGTERM), and no process of its session may be left.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures_tryton import tryton_cache_dir

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.tryton]

REPO = Path(__file__).resolve().parent.parent
UI_TIMEOUT = 600  # seconds: the demo ERP, `airflow db migrate`, then four Airflow components on a busy machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session(sid: int) -> dict[int, str]:
    """Live (not zombie) processes of session SID: pid -> command line."""
    out = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            out[int(entry.name)] = cmdline
    return out


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _wait_for_ui(port: int, demo: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + UI_TIMEOUT
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            pytest.fail(f"the demo exited with code {demo.returncode} before the UI answered:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(1)
    pytest.fail(f"the Airflow UI did not answer on port {port} within {UI_TIMEOUT} s:\n{_tail(log)}")


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_demo_ui_from_a_fresh_shell_starts_and_stops_everything(stop: str, tmp_path: Path) -> None:
    path = os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                           if p and not (Path(p) / "airflow").exists())
    assert shutil.which("airflow", path=path) is None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "O2C_", "PYTHON", "VIRTUAL_ENV"))}
    home = tmp_path / "home"
    home.mkdir()
    cache = tryton_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    (home / "tryton-cache").symlink_to(cache.resolve())  # the test session's Tryton template, not a 2-minute build
    port = _free_port()
    env.update(PATH=path, O2C_HOME=str(home), PYTHONUNBUFFERED="1",
               # the log servers of the scheduler and the triggerer: off their fixed ports, for parallel runs
               AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
               AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()))
    log = tmp_path / "demo-ui.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "demo", "ui", "--port", str(port)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_ui(port, demo, log)
        running = " | ".join(_session(demo.pid).values())
        for component in ("airflow standalone", "airflow scheduler", "airflow dag-processor", "airflow triggerer",
                          "api_server", "trytond"):
            assert component in running, running

        if stop == "ctrl-c":
            os.killpg(demo.pid, signal.SIGINT)  # what a terminal sends to its foreground process group
        else:
            os.kill(demo.pid, signal.SIGTERM)
        assert demo.wait(timeout=180) == 0, _tail(log)
        assert _session(demo.pid) == {}, _tail(log)
        text = log.read_text(errors="replace")
        assert "FileNotFoundError" not in text
        assert re.findall(r"^\[(\d+/\d+)\]", text, re.MULTILINE) == ["1/3", "2/3", "3/3"]
    finally:
        for pid in _session(demo.pid):  # never leave a process behind, even when the test failed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if demo.poll() is None:
            demo.kill()
            demo.wait()

"""The finance review pages: served by a real Airflow api-server behind Airflow's own login,
and rendered in headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from o2c.store import Store
from tests.fixtures_airflow import REPO

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _filled_store(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    run = store.start_run(source="tryton_demo", stream="invoices",
                          window_start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), window_end=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    from tests.store.test_store import sourced

    with store.session() as s:
        store.upsert_invoice(s, sourced(), run_id=run.id)
        store.quarantine(s, source="tryton_demo", kind="invoice", source_id="99",
                         payload={"number": "<script>alert(1)</script>", "currency": "EUX"},
                         reason="tryton_demo:99 (FA-99): BT-5: unknown ISO 4217 currency code (value 'EUX')",
                         field="BT-5", run_id=run.id)
    run.read, run.inserted, run.rejected = 2, 1, 1
    store.finish_run(run, status="success")
    return store


def test_page_escapes_payloads_and_renders_in_chromium(tmp_path):
    sys.path.insert(0, str(REPO / "plugins"))
    from o2c_airflow.review import render_overview

    from o2c.review import overview

    store = _filled_store(tmp_path / "hub.sqlite")
    html = render_overview(overview(store), "admin")
    assert "<script>alert" not in html
    assert "BT-5: unknown ISO 4217 currency code" in html
    assert "tryton_demo / invoices" in html and "1 open rejects" in html
    assert "o2c cash-review E123" in html and "No decision yet." in html and "Nothing written back yet." in html
    for section in ("Cash application", "Reviewer decisions", "Write-back to the ERPs", "Risk flags", "E-invoices not delivered", "Quarantine (open)"):
        assert section in html
    page = tmp_path / "review.html"
    page.write_text(html)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make test installs it with apt)", pytrace=False)
        pytest.skip("chromium is not installed")
    shot = tmp_path / "review.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chr'}",
                    "--window-size=1400,900", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real page, not a blank one
    keep = os.environ.get("O2C_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "review.png")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_bank_line(store: Store, tmp_path: Path) -> str:
    """One unknown payer's credit of the stored invoice's amount, ingested and left unapplied; and
    a credit quoting the invoice with 20 % too much, which the engine only suggests."""
    import hashlib
    from decimal import Decimal

    from o2c.bank_ingest import ingest_file
    from o2c.cash_application import run_cash_application
    from o2c.demo_bank import camt053
    from o2c.transport.sftp import StagedFile

    inv = store.invoices()[0]
    data = camt053([{"amount": inv.payable, "ref": "UI1", "name": "PAYEUR INCONNU", "text": ["VIREMENT"]},
                    {"amount": inv.payable * Decimal("1.2"), "ref": "UI2", "name": inv.buyer_name, "text": [inv.number]}])
    path = tmp_path / "camt.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path="/in/camt.xml", name="camt.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"
    run_cash_application(store)
    return inv.number


def test_pages_require_an_airflow_login(airflow_db, tmp_path):
    store = _filled_store(tmp_path / "hub.sqlite")
    number = _with_bank_line(store, tmp_path)
    port = _free_port()
    env = {**airflow_db, "O2C_DATABASE_URL": store.url, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reviewer:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json")}
    (tmp_path / "passwords.json").write_text(json.dumps({"reviewer": "s3cret-pw"}))
    log = open(tmp_path / "api.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "api-server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("api-server did not start:\n" + (tmp_path / "api.log").read_text()[-3000:])
            time.sleep(1)
        assert requests.get(f"{base}/o2c/", timeout=60).status_code == 401
        assert requests.get(f"{base}/o2c/quarantine/1", timeout=60).status_code == 401
        token = requests.post(f"{base}/auth/token", json={"username": "reviewer", "password": "s3cret-pw"}, timeout=60).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        page = requests.get(f"{base}/o2c/", headers=auth, timeout=60)
        assert page.status_code == 200 and "tryton_demo / invoices" in page.text and "signed in as reviewer" in page.text
        raw = requests.get(f"{base}/o2c/quarantine/1", headers=auth, timeout=60)
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/plain")
        assert '"currency": "EUX"' in raw.text
        assert requests.get(f"{base}/o2c/quarantine/999", headers=auth, timeout=60).status_code == 404

        # decisions from the page: signed-in users only, recorded under their name
        form = {"line": "UI1", "action": "reallocate", "invoices": number, "note": "paid by the parent"}
        assert requests.post(f"{base}/o2c/decide", data=form, timeout=60, allow_redirects=False).status_code == 401
        # the browser's session cookie from another site's form: refused
        cookie = {"_token": token}
        forged = requests.post(f"{base}/o2c/decide", data=form, cookies=cookie, timeout=60, allow_redirects=False,
                               headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403
        # from the page itself but without the page's form token (an old page, a forged form): refused
        stale = requests.post(f"{base}/o2c/decide", data={**form, "csrf": "0" * 40}, cookies=cookie, timeout=60,
                              allow_redirects=False, headers={"Origin": base})
        assert stale.status_code == 403 and "reload the page" in stale.text
        own = requests.get(f"{base}/o2c/", cookies=cookie, timeout=60).text
        csrf = re.search(r'name="csrf" value="([0-9a-f]{40})"', own).group(1)
        done = requests.post(f"{base}/o2c/decide", data={**form, "csrf": csrf}, cookies=cookie, timeout=60,
                             allow_redirects=False, headers={"Origin": base})
        assert done.status_code == 303 and done.headers["location"].startswith("./?done=")
        shown = requests.get(f"{base}/o2c/{done.headers['location'][2:]}", headers=auth, timeout=60).text
        assert "reallocate recorded" in shown and "paid by the parent" in shown and f"{number}" in shown
        assert "no open item identified" not in shown  # the unapplied cash of the line is resolved
        from sqlalchemy import select

        from o2c.store.cash import CashAllocation, CashReviewDecision

        with store.session() as s:
            dec = s.scalars(select(CashReviewDecision)).one()
            assert (dec.reviewer, dec.action, dec.invoice_numbers) == ("reviewer", "reallocate", number)
            assert s.scalars(select(CashAllocation.status).where(CashAllocation.bank_ref == "UI1")).all() == ["accepted"]
        # a decision that cannot apply is shown on the page with the reason, nothing recorded
        mixed = requests.post(f"{base}/o2c/decide", data={"line": "UI1", "action": "reject", "invoices": number},
                              headers=auth, timeout=60)
        assert mixed.status_code == 400 and "choose re-allocate" in mixed.text
        bad = requests.post(f"{base}/o2c/decide", data={"line": "UI1", "action": "accept"}, headers=auth, timeout=60)
        assert bad.status_code == 400 and "Not recorded: bank line E1 has no suggested allocation to accept" in bad.text
        # the other line's suggestion would now pay the invoice a second time: refused with the amounts
        paid = requests.post(f"{base}/o2c/decide", data={"line": "UI2", "action": "accept"}, headers=auth, timeout=60)
        assert paid.status_code == 400 and "Traceback" not in paid.text
        assert (f"Not recorded: bank line E2 cannot be accepted as suggested: it would put 175.50 EUR on invoice {number}, "
                "which has 0.00 EUR open (175.50 EUR due, 175.50 EUR already applied)") in paid.text
        with store.session() as s:
            assert s.scalars(select(CashAllocation.status).where(CashAllocation.bank_ref == "UI2")).all() == ["suggested"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

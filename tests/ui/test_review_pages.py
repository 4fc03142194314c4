"""The finance review pages: served by a real Airflow api-server behind Airflow's own login and
its auth manager's permissions (finance-viewer / finance-reviewer), and rendered in headless
Chromium. One api-server serves the whole module (starting one is slow)."""

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
from collections.abc import Iterator
from dataclasses import dataclass
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
    from o2c.review import overview
    from o2c_airflow.review import render_overview

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


# one bank line per test that records a decision (E1, E2, E3), each paying its own invoice
LINES = {"UI1": "FA2026-0001", "UI2": "FA2026-0002", "UI3": "FA2026-0003"}


def _with_bank_lines(store: Store, tmp_path: Path) -> None:
    """The invoices of ``LINES`` (the stored one and two more of the same amount) and an unknown
    payer's credit for each, ingested and left unapplied."""
    import hashlib
    from decimal import Decimal

    from demo.bank import camt053
    from o2c.jobs.bank import ingest_file
    from o2c.jobs.cash import run_cash_application
    from schemas import SourceRef
    from tests.schemas.test_validation import make_invoice
    from transport.sftp import StagedFile

    run = store.start_run(source="erp1", stream="invoices")
    with store.session() as s:
        for i, number in enumerate(list(LINES.values())[1:], start=43):
            inv = make_invoice(number=number)
            inv.source = SourceRef(system="erp1", id=str(i), updated_at=dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC))
            store.upsert_invoice(s, inv, run_id=run.id)
    store.finish_run(run, status="success")
    assert sorted(i.number for i in store.invoices()) == sorted(LINES.values())
    first = next(i for i in store.invoices() if i.number == LINES["UI1"])
    payable = first.payable
    data = camt053([{"amount": payable, "ref": ref, "name": "PAYEUR INCONNU", "text": ["VIREMENT"]} for ref in LINES]
                   # and a credit quoting the first invoice with 20 % too much, which the engine only suggests
                   + [{"amount": payable * Decimal("1.2"), "ref": "UI4", "name": first.buyer_name, "text": [first.number]}])
    path = tmp_path / "camt.xml"
    path.write_bytes(data)
    staged = StagedFile(local_path=str(path), remote_path="/in/camt.xml", name="camt.xml", size=len(data), mtime=0,
                        sha256=hashlib.sha256(data).hexdigest())
    assert ingest_file(store, "bnp", staged, run_id=None).outcome == "ingested"
    run_cash_application(store)


# SimpleAuthManager users (name: Airflow role); all with the password PASSWORD
USERS = {"reviewer": "admin", "victor": "viewer", "ursula": "user", "uma": "user", "oscar": "op"}
PASSWORD = "s3cret-pw"
# the hub's narrowing of the auth manager's answer: op users are not finance-viewers; of the
# users the auth manager lets edit the cash DAG, admins and ursula are finance-reviewers
ACCESS = {"O2C_REVIEW_VIEWERS": "role:admin, role:user, role:viewer",
          "O2C_REVIEW_REVIEWERS": "role:admin, user:ursula"}


# the source of the bank lines' invoices: its payments wait for an approval by reviewer or ursula
APPROVAL_SOURCES = ("sources:\n  - name: erp1\n    kind: tryton\n    connection: x\n"
                    "    writeback: {approvers: [reviewer, ursula]}\n")


@dataclass
class ReviewServer:
    base: str
    store: Store

    def token(self, user: str) -> str:
        res = requests.post(f"{self.base}/auth/token", json={"username": user, "password": PASSWORD}, timeout=60)
        assert res.status_code in (200, 201), res.text
        return res.json()["access_token"]


@pytest.fixture(scope="module")
def review_server(airflow_db, tmp_path_factory) -> Iterator[ReviewServer]:
    """One real ``airflow api-server`` with the plugin, users of every role and a filled store."""
    tmp_path = tmp_path_factory.mktemp("review")
    store = _filled_store(tmp_path / "hub.sqlite")
    _with_bank_lines(store, tmp_path)
    port = _free_port()
    (tmp_path / "passwords.json").write_text(json.dumps(dict.fromkeys(USERS, PASSWORD)))
    (tmp_path / "sources.yaml").write_text(APPROVAL_SOURCES)
    env = {**airflow_db, "O2C_DATABASE_URL": store.url, "PYTHONPATH": str(REPO), "O2C_SOURCES": str(tmp_path / "sources.yaml"),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"), **ACCESS}
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
        yield ReviewServer(base, store)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{40})"', page).group(1)


def _decisions(store: Store, ref: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from o2c.store.cash import CashReviewDecision

    with store.session() as s:
        return [(d.reviewer, d.action) for d in s.scalars(select(CashReviewDecision).where(CashReviewDecision.bank_ref == ref))]


def test_pages_require_an_airflow_login(review_server):
    base, store, number = review_server.base, review_server.store, LINES["UI1"]
    assert requests.get(f"{base}/o2c/", timeout=60).status_code == 401
    assert requests.get(f"{base}/o2c/quarantine/1", timeout=60).status_code == 401
    token = review_server.token("reviewer")
    auth = {"Authorization": f"Bearer {token}"}
    page = requests.get(f"{base}/o2c/", headers=auth, timeout=60)
    assert page.status_code == 200 and "tryton_demo / invoices" in page.text and "signed in as reviewer" in page.text
    raw = requests.get(f"{base}/o2c/quarantine/1", headers=auth, timeout=60)
    assert raw.status_code == 200 and '"currency": "EUX"' in raw.text
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
    csrf = _csrf(requests.get(f"{base}/o2c/", cookies=cookie, timeout=60).text)
    done = requests.post(f"{base}/o2c/decide", data={**form, "csrf": csrf}, cookies=cookie, timeout=60,
                         allow_redirects=False, headers={"Origin": base})
    assert done.status_code == 303 and done.headers["location"].startswith("./?done=")
    shown = requests.get(f"{base}/o2c/{done.headers['location'][2:]}", headers=auth, timeout=60).text
    assert "reallocate recorded" in shown and "paid by the parent" in shown and f"{number}" in shown
    assert "E1 · UI1</td><td class=\"sub\">unapplied" not in shown  # the unapplied cash of the line is resolved
    assert "E2 · UI2</td><td class=\"sub\">unapplied" in shown  # (as the page writes a line still to review)
    from sqlalchemy import select

    from o2c.store.cash import CashAllocation

    assert _decisions(store, "UI1") == [("reviewer", "reallocate")]
    with store.session() as s:
        assert s.scalars(select(CashAllocation.status).where(CashAllocation.bank_ref == "UI1")).all() == ["accepted"]
    # a decision that cannot apply is shown on the page with the reason, nothing recorded
    mixed = requests.post(f"{base}/o2c/decide", data={"line": "UI1", "action": "reject", "invoices": number},
                          headers=auth, timeout=60)
    assert mixed.status_code == 400 and "choose re-allocate" in mixed.text
    bad = requests.post(f"{base}/o2c/decide", data={"line": "UI1", "action": "accept"}, headers=auth, timeout=60)
    assert bad.status_code == 400 and "Not recorded: bank line E1 has no suggested allocation to accept" in bad.text
    # the other line's suggestion would now pay the invoice a second time: refused with the amounts
    paid = requests.post(f"{base}/o2c/decide", data={"line": "UI4", "action": "accept"}, headers=auth, timeout=60)
    assert paid.status_code == 400 and "Traceback" not in paid.text
    assert (f"Not recorded: bank line E4 cannot be accepted as suggested: it would put 175.50 EUR on invoice {number}, "
            "which has 0.00 EUR open (175.50 EUR due, 175.50 EUR already applied)") in paid.text
    with store.session() as s:
        assert s.scalars(select(CashAllocation.status).where(CashAllocation.bank_ref == "UI4")).all() == ["suggested"]


def test_raw_payloads_are_downloads_of_their_own_type(review_server):
    """A quarantined payload is outside data: served under its stored type as an attachment the
    browser neither renders nor sniffs."""
    auth = {"Authorization": f"Bearer {review_server.token('victor')}"}
    raw = requests.get(f"{review_server.base}/o2c/quarantine/1", headers=auth, timeout=60)
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["content-disposition"] == 'attachment; filename="quarantine-1.json"'
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert json.loads(raw.content) == {"currency": "EUX", "number": "<script>alert(1)</script>"}  # the bytes as stored
    bad = requests.get(f"{review_server.base}/o2c/quarantine/abc", headers=auth, timeout=60)
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/plain") and "Traceback" not in bad.text


def test_a_viewer_reads_but_cannot_decide(review_server):
    base = review_server.base
    token = review_server.token("victor")
    form = {"line": "UI2", "action": "reallocate", "invoices": LINES["UI2"]}
    refused = requests.post(f"{base}/o2c/decide", data=form, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                            allow_redirects=False)
    assert refused.status_code == 403 and "finance-reviewer" in refused.text
    assert refused.headers["content-type"].startswith("text/plain")
    assert _decisions(review_server.store, "UI2") == []
    page = requests.get(f"{base}/o2c/", cookies={"_token": token}, timeout=60)
    assert page.status_code == 200 and "signed in as victor" in page.text
    assert "needs the finance-reviewer permission" in page.text and 'action="decide"' not in page.text
    assert requests.get(f"{base}/o2c/quarantine/1", headers={"Authorization": f"Bearer {token}"}, timeout=60).status_code == 200


def test_the_role_and_user_lists_narrow_the_auth_manager(review_server):
    base = review_server.base
    # oscar (op): the auth manager would let him read the cash DAG, O2C_REVIEW_VIEWERS does not name op
    oscar = {"Authorization": f"Bearer {review_server.token('oscar')}"}
    page = requests.get(f"{base}/o2c/", headers=oscar, timeout=60)
    assert page.status_code == 403 and "finance-viewer" in page.text and "tryton_demo" not in page.text
    raw = requests.get(f"{base}/o2c/quarantine/1", headers=oscar, timeout=60)
    assert raw.status_code == 403 and "EUX" not in raw.text
    form = {"line": "UI2", "action": "reallocate", "invoices": LINES["UI2"]}
    assert requests.post(f"{base}/o2c/decide", data=form, headers=oscar, timeout=60).status_code == 403
    # uma (user): may edit the cash DAG, but O2C_REVIEW_REVIEWERS names only admins and ursula
    uma = {"Authorization": f"Bearer {review_server.token('uma')}"}
    assert requests.get(f"{base}/o2c/", headers=uma, timeout=60).status_code == 200
    refused = requests.post(f"{base}/o2c/decide", data=form, headers=uma, timeout=60, allow_redirects=False)
    assert refused.status_code == 403 and "finance-reviewer" in refused.text
    assert _decisions(review_server.store, "UI2") == []


def test_a_reviewer_decides_with_a_bearer_token_alone(review_server):
    """An API client: an explicit bearer token and no session cookie needs neither Origin nor form token."""
    base = review_server.base
    auth = {"Authorization": f"Bearer {review_server.token('ursula')}"}
    page = requests.get(f"{base}/o2c/", headers=auth, timeout=60)
    assert page.status_code == 200 and 'action="decide"' in page.text
    done = requests.post(f"{base}/o2c/decide", data={"line": "UI2", "action": "reallocate", "invoices": LINES["UI2"]},
                         headers=auth, timeout=60, allow_redirects=False)
    assert done.status_code == 303, done.text
    assert _decisions(review_server.store, "UI2") == [("ursula", "reallocate")]


def test_a_cross_site_post_with_the_cookie_and_another_credential_is_refused(review_server):
    """Only a bearer token alone skips the page checks: the session cookie sent with
    ``Authorization: Basic`` (which Airflow does not read, so the cookie stays the credential) or
    with a bearer token still needs this page's Origin and form token."""
    base = review_server.base
    token = review_server.token("reviewer")
    form = {"line": "UI3", "action": "reallocate", "invoices": LINES["UI3"]}
    basic = requests.post(f"{base}/o2c/decide", data=form, cookies={"_token": token}, timeout=60, allow_redirects=False,
                          headers={"Origin": "https://evil.example", "Authorization": "Basic ZXZpbDpldmls"})
    assert basic.status_code == 403
    no_origin = requests.post(f"{base}/o2c/decide", data=form, cookies={"_token": token}, timeout=60,
                              allow_redirects=False, headers={"Authorization": "Basic ZXZpbDpldmls"})
    assert no_origin.status_code == 403
    both = requests.post(f"{base}/o2c/decide", data=form, cookies={"_token": token}, timeout=60, allow_redirects=False,
                         headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"})
    assert both.status_code == 403
    assert _decisions(review_server.store, "UI3") == []


def test_the_access_lists_fail_closed(monkeypatch):
    """Unset means "whoever the auth manager allows", set but empty means nobody, and a malformed
    entry is a configuration error (the routes answer 500 with the message), never "everyone"."""
    from o2c_airflow.review import FINANCE_REVIEWER, FINANCE_VIEWER, _grants
    from schemas.errors import ConfigError

    monkeypatch.delenv("O2C_REVIEW_VIEWERS", raising=False)
    assert _grants(FINANCE_VIEWER) == [("*", "")]
    monkeypatch.setenv("O2C_REVIEW_VIEWERS", " ")
    assert _grants(FINANCE_VIEWER) == []
    monkeypatch.setenv("O2C_REVIEW_REVIEWERS", "role:Admin, user:claire ,*")
    assert _grants(FINANCE_REVIEWER) == [("role", "Admin"), ("user", "claire"), ("*", "")]
    for bad in ("admin", "group:finance", "role:", "user"):
        monkeypatch.setenv("O2C_REVIEW_REVIEWERS", f"role:admin,{bad}")
        with pytest.raises(ConfigError, match="O2C_REVIEW_REVIEWERS"):
            _grants(FINANCE_REVIEWER)


def test_page_shows_the_hub_against_each_erp(tmp_path):
    """The reconciliation per source: the ERP's open amount, the hub's, what is unexplained, and
    the open data-quality findings (their text escaped)."""
    from decimal import Decimal

    from o2c.review import overview
    from o2c.store.models import InvoiceRow
    from o2c.store.receivables import record_finding, upsert_settlements
    from o2c_airflow.review import render_overview
    from schemas import SourceRef
    from schemas.settlement import Settlement, SettlementLine

    store = _filled_store(tmp_path / "hub.sqlite")
    with store.session() as s:
        inv = s.query(InvoiceRow).one()
        paid = Decimal("100.00")
        settlement = Settlement(invoice_id=inv.source_id, state="partial", open_amount=inv.payable - paid, currency=inv.currency,
                                lines=[SettlementLine(id="77", kind="payment", amount=paid, reference="cheque 4411")],
                                source=SourceRef(system="erp1", id=inv.source_id))
        assert upsert_settlements(s, [(settlement, inv.id)], run_id=None) == ["inserted"]
        record_finding(s, source="tryton_demo", subject="settlement", source_id="98", rule="open_amount_negative",
                       message="<b>tryton_demo:98</b> open -5.00", details={}, run_id=None)
        erp_open = inv.payable - paid
    html = render_overview(overview(store), "admin")
    assert "Open items: the hub against each ERP" in html
    row = re.search(r"<td>erp1</td>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
    money = "{:,.2f}".format
    assert cells == ["1", money(erp_open), money(erp_open), "0.00", money(paid), "0.00", "0.00"], cells
    assert "&lt;b&gt;tryton_demo:98&lt;/b&gt; open -5.00" in html and "<b>tryton_demo:98" not in html


def test_the_page_refuses_a_store_not_migrated(tmp_path, monkeypatch):
    """The page never migrates: on an empty store it answers 503 with what to do, not a traceback
    and not a half-drawn page."""
    from starlette.testclient import TestClient

    from o2c_airflow import review

    monkeypatch.setenv("O2C_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    review.app.dependency_overrides[review.a_viewer] = lambda: {"name": "victor"}
    try:
        answer = TestClient(review.app, raise_server_exceptions=False).get("/")
    finally:
        review.app.dependency_overrides.clear()
    assert answer.status_code == 503, answer.text
    assert "o2c db upgrade" in answer.text and "Traceback" not in answer.text
    assert Store(f"sqlite:///{tmp_path / 'empty.sqlite'}").current_revision() is None  # nothing created


def test_the_collectors_worklist_used_in_a_browser(review_server, tmp_path):
    """The worklist page as a collector uses it in headless Chromium: signed in with Airflow's
    session cookie, a dispute opened and resolved and a promise recorded by clicking the page's
    forms (so the browser's own Origin and the page's form token are what the server checks); a
    viewer reads it without the forms; a forged post changes nothing."""
    from decimal import Decimal

    from sqlalchemy import func, select

    from o2c.config import CollectionsConfig
    from o2c.jobs.worklist import worklist
    from o2c.store.collections import DisputeRow, PromiseRow, disputes, promises
    from tests.collections.test_dunning_run import AS_OF, _invoice
    from tests.collections.test_worklist import _customer
    from tests.ui.browser import Browser

    base, store = review_server.base, review_server.store
    _customer(store, 7, "Worklist SA")
    _invoice(store, 7, "W-1", "1200.00", 40)
    _invoice(store, 7, "W-2", "300.00", 20)
    [mine] = [r for r in worklist(store, CollectionsConfig(), AS_OF) if r.customer_name == "Worklist SA"]
    row = f'tr.customer[data-customer="{mine.customer_id}"]'
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make test installs it with apt)", pytrace=False)
        pytest.skip("chromium is not installed")

    def count(model) -> int:
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(model))

    before = (count(DisputeRow), count(PromiseRow))
    browser = Browser(tmp_path / "chr")
    try:
        browser.set_cookie(base, "_token", review_server.token("reviewer"))
        browser.open(f"{base}/o2c/worklist?as_of={AS_OF.isoformat()}")
        text = browser.text()
        assert "Collector's worklist" in text and "signed in as reviewer" in text
        action = f"document.querySelector('{row} td.action').innerText"
        assert "Worklist SA" in text and browser.js(action) == "send level 2 reminder"
        assert "Worklist SA owes 1,500.00 EUR on 2 overdue invoices" in text

        # open a dispute on W-1 from the row's form
        browser.js(f"document.querySelector('{row} details').open = true")
        browser.fill(f"{row} form.open-dispute select[name=invoice]", "erp1:W-1")
        browser.fill(f"{row} form.open-dispute select[name=reason]", "quality")
        browser.fill(f"{row} form.open-dispute input[name=comment]", "palettes <abîmées>")
        browser.click(f"{row} form.open-dispute button")
        [d] = [d for d in disputes(store) if d.invoice_number == "W-1"]
        assert (d.origin, d.opened_by, d.reason_code, d.comments[0]["text"]) == ("page", "reviewer", "quality",
                                                                               "palettes <abîmées>")
        text = browser.text()
        assert f"dispute {d.id} on W-1: quality, open" in text
        assert browser.js(action) == "send level 1 reminder"  # W-1 waits for its dispute, W-2 is at level 1
        # the customer's words shown as text, never as markup
        assert "palettes <abîmées>" in browser.js(f"document.querySelector('{row} li.dispute').textContent")
        assert "<abîmées>" not in browser.js(f"document.querySelector('{row}').innerHTML")

        # a mistake is shown on the page, nothing recorded
        browser.js(f"document.querySelector('{row} details').open = true")
        browser.fill(f"{row} form.open-dispute select[name=invoice]", "erp1:W-2")
        browser.fill(f"{row} form.open-dispute input[name=amount]", "99999")
        browser.click(f"{row} form.open-dispute button")
        assert "Not recorded: 99999 EUR in dispute is more than invoice W-2's total 300.00" in browser.text()
        assert [x.invoice_number for x in disputes(store) if x.invoice_number.startswith("W-")] == ["W-1"]

        # resolve it: reminders resume
        browser.open(f"{base}/o2c/worklist?as_of={AS_OF.isoformat()}")
        browser.js(f"document.querySelector('{row} details').open = true")
        browser.fill(f"{row} form.resolve select[name=outcome]", "rejected")
        browser.fill(f"{row} form.resolve input[name=comment]", "photos: dégâts au déchargement")
        browser.click(f"{row} form.resolve button")
        assert f"dispute {d.id} on W-1: resolved, rejected" in browser.text()
        assert [x for x in disputes(store) if x.invoice_number == "W-1"] == []

        # the customer promises the whole amount by the 20th
        browser.js(f"document.querySelector('{row} details').open = true")
        browser.fill(f"{row} form.add-promise input[name=due]", "2026-12-20")
        browser.fill(f"{row} form.add-promise input[name=note]", "virement le 20")
        browser.click(f"{row} form.add-promise button")
        [p] = [p for p in promises(store) if p.note == "virement le 20"] or [browser.text()]
        assert (p.amount, p.due_on, p.taken_by, p.origin, p.note) == (Decimal("1500.00"), dt.date(2026, 12, 20), "reviewer",
                                                                       "page", "virement le 20")
        text = browser.text()
        assert f"promise {p.id}: 1500.00 EUR by 2026-12-20" in text and browser.js(action) == "wait: promise due 2026-12-20"
        shot = browser.screenshot(tmp_path / "worklist.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
        keep = os.environ.get("O2C_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "worklist.png", Path(keep) / "worklist.png")
    finally:
        browser.close()
    assert (count(DisputeRow), count(PromiseRow)) == (before[0] + 1, before[1] + 1)

    # a viewer reads the worklist without the forms, and cannot post
    victor = review_server.token("victor")
    page = requests.get(f"{base}/o2c/worklist?as_of={AS_OF.isoformat()}", cookies={"_token": victor}, timeout=60)
    assert page.status_code == 200 and "Worklist SA" in page.text and "needs the finance-reviewer permission" in page.text
    assert 'name="do"' not in page.text
    form = {"do": "dispute", "invoice": "erp1:W-2", "reason": "price", "as_of": AS_OF.isoformat()}
    refused = requests.post(f"{base}/o2c/worklist", data=form, headers={"Authorization": f"Bearer {victor}"}, timeout=60,
                            allow_redirects=False)
    assert refused.status_code == 403 and "finance-reviewer" in refused.text
    # the reviewer's cookie from another site's form, or without the page's token: refused
    cookie = {"_token": review_server.token("reviewer")}
    forged = requests.post(f"{base}/o2c/worklist", data=form, cookies=cookie, timeout=60, allow_redirects=False,
                           headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    stale = requests.post(f"{base}/o2c/worklist", data={**form, "csrf": "0" * 40}, cookies=cookie, timeout=60,
                          allow_redirects=False, headers={"Origin": base})
    assert stale.status_code == 403 and "reload the page" in stale.text
    assert requests.get(f"{base}/o2c/worklist?as_of=tomorrow", cookies=cookie, timeout=60).status_code == 400
    assert (count(DisputeRow), count(PromiseRow)) == (before[0] + 1, before[1] + 1)
    # the review page's decision form passes a short-payment dispute on: a line paying its invoice in
    # full has no rest to dispute, refused with the reason and nothing recorded
    reviewer = {"Authorization": f"Bearer {review_server.token('reviewer')}"}
    assert 'name="dispute"' in requests.get(f"{base}/o2c/", headers=reviewer, timeout=60).text
    full = requests.post(f"{base}/o2c/decide", headers=reviewer, timeout=60, allow_redirects=False,
                         data={"line": "UI3", "action": "reallocate", "invoices": LINES["UI3"], "dispute": "deduction"})
    assert full.status_code == 400 and "leaves no invoice partly unpaid" in full.text
    assert _decisions(store, "UI3") == []


def test_write_back_commands_are_approved_and_refused_from_the_page(review_server):
    """The page lists the commands awaiting approval; a finance-reviewer who is one of the source's
    approvers approves or refuses them with a reason (same form checks as the decisions), stored
    with the audit trail; a viewer cannot."""
    from o2c.config import SourceConfig
    from o2c.jobs.approval import approvals, awaiting
    from o2c.jobs.writeback import enqueue_payments, outbox
    from o2c.store import audit

    base, store = review_server.base, review_server.store
    assert enqueue_payments(store, sources=[SourceConfig(name="erp1", kind="tryton", connection="x")]) >= 2
    waiting = [r.id for r in awaiting(store, "erp1")]
    assert len(waiting) >= 2 and {r.status for r in outbox(store, "erp1")} == {"awaiting_approval"}
    token = review_server.token("reviewer")
    cookie = {"_token": token}
    page = requests.get(f"{base}/o2c/", cookies=cookie, timeout=60).text
    assert "Write-back awaiting approval" in page and 'action="approve"' in page
    assert f'name="commands" value="{waiting[0]}"' in page

    first, second = str(waiting[0]), str(waiting[1])
    form = {"source": "erp1", "decision": "approve", "commands": first, "reason": "checked against the statement"}
    # another site's form with the session cookie, or a stale form token: refused, nothing recorded
    forged = requests.post(f"{base}/o2c/approve", data=form, cookies=cookie, timeout=60, allow_redirects=False,
                           headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    stale = requests.post(f"{base}/o2c/approve", data={**form, "csrf": "0" * 40}, cookies=cookie, timeout=60,
                          allow_redirects=False, headers={"Origin": base})
    assert stale.status_code == 403 and approvals(store, "erp1") == []
    # a viewer cannot; a reason is required (an approver the source does not name: tests/cash/test_writeback_approval.py)
    viewer = requests.post(f"{base}/o2c/approve", data=form, timeout=60, allow_redirects=False,
                           headers={"Authorization": f"Bearer {review_server.token('victor')}"})
    assert viewer.status_code == 403 and "finance-reviewer" in viewer.text
    no_reason = requests.post(f"{base}/o2c/approve", data={**form, "reason": ""}, headers={"Authorization": f"Bearer {token}"},
                              timeout=60, allow_redirects=False)
    assert no_reason.status_code == 400 and "give the reason" in no_reason.text and approvals(store, "erp1") == []

    csrf = _csrf(page)
    done = requests.post(f"{base}/o2c/approve", data={**form, "csrf": csrf}, cookies=cookie, timeout=60,
                         allow_redirects=False, headers={"Origin": base})
    assert done.status_code == 303, done.text
    shown = requests.get(f"{base}/o2c/{done.headers['location'][2:]}", cookies=cookie, timeout=60).text
    assert f"erp1: approved command(s) {first}" in shown and "checked against the statement" in shown
    refused = requests.post(f"{base}/o2c/approve", data={"source": "erp1", "decision": "refuse", "commands": second,
                                                         "reason": "<b>duplicate</b>"},
                            headers={"Authorization": f"Bearer {review_server.token('ursula')}"}, timeout=60,
                            allow_redirects=False)
    assert refused.status_code == 303, refused.text
    status = {r.id: r.status for r in outbox(store, "erp1")}
    assert status[int(first)] == "pending" and status[int(second)] == "refused"
    again = requests.post(f"{base}/o2c/approve", data={**form, "commands": second}, headers={"Authorization": f"Bearer {token}"},
                          timeout=60, allow_redirects=False)
    assert again.status_code == 400 and "awaiting approval" in again.text
    (by_ursula, by_reviewer) = approvals(store, "erp1")
    assert (by_reviewer.decided_by, by_reviewer.decision, by_reviewer.via) == ("reviewer", "approved", "page")
    assert (by_ursula.decided_by, by_ursula.decision, by_ursula.reason) == ("ursula", "refused", "<b>duplicate</b>")
    page = requests.get(f"{base}/o2c/", cookies=cookie, timeout=60).text
    assert "&lt;b&gt;duplicate&lt;/b&gt;" in page and "<b>duplicate</b>" not in page
    assert [e.actor for e in audit.trail(store, "invoice:erp1:") if e.action.startswith("approval.")] == ["reviewer", "ursula"]
    assert audit.verify(store).ok


def test_an_invoices_page_tells_its_story_and_its_audit_trail(tmp_path, monkeypatch):
    """The open amount and how it is made, the allocations, and the audit entries about the invoice
    (a reviewer's decision on its bank line included), with the chain's state; outside text escaped."""
    from starlette.testclient import TestClient

    from o2c.jobs.cash_review import decide
    from o2c.store.audit import AuditEntry
    from o2c_airflow import review

    store = _filled_store(tmp_path / "hub.sqlite")
    _with_bank_lines(store, tmp_path)
    number = LINES["UI2"]
    decide(store, "UI2", "reallocate", reviewer="ursula", invoices=[number], note="<b>called</b> the customer")
    monkeypatch.setenv("O2C_DATABASE_URL", store.url)
    review.app.dependency_overrides[review.a_viewer] = lambda: {"name": "victor"}
    try:
        client = TestClient(review.app, raise_server_exceptions=False)
        page = client.get("/invoice", params={"ref": number})
        missing = client.get("/invoice", params={"ref": "NO-SUCH"})
        with store.session() as s:  # someone edits an entry in the database
            s.query(AuditEntry).filter(AuditEntry.seq == 1).update({"actor": "mallory"})
        broken = client.get("/invoice", params={"ref": number})
    finally:
        review.app.dependency_overrides.clear()
    assert page.status_code == 200, page.text
    html = page.text
    assert f"{number}" in html and "chain intact" in html and "review.reallocate" in html and "ursula" in html
    assert "&lt;b&gt;called&lt;/b&gt;" in html or "\\u003cb\\u003ecalled" in html
    assert "<b>called</b>" not in html
    assert missing.status_code == 404 and "no invoice 'NO-SUCH'" in missing.text
    assert "chain BROKEN at entry 1" in broken.text

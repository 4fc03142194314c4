"""The HTTP error policy against a real HTTP server on loopback that answers 503, 429, 401."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.base import ConnectionInfo
from connectors.tryton import TrytonClient
from schemas.errors import AuthError, RetriableError


class Script(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict, dict]] = []
    seen: list[str] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Script.seen.append(body["method"])
        status, headers, payload = Script.answers.pop(0) if Script.answers else (200, {}, {"result": {}})
        data = json.dumps({"id": body["id"], **payload}).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Script.answers, Script.seen = [], []
    try:
        yield ConnectionInfo(host="127.0.0.1", port=server.server_address[1], login="admin", password="pw", schema="db")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


LOGIN_OK = (200, {}, {"result": [1, "sess"]})
PREFS = (200, {}, {"result": {"language": "fr"}})


def test_5xx_then_success_is_retried(stub):
    waits: list[float] = []
    Script.answers = [(503, {}, {}), (502, {}, {}), LOGIN_OK, PREFS]
    client = TrytonClient(stub, attempts=4, sleep=waits.append)
    assert client.context == {"language": "fr"}
    assert Script.seen == ["common.db.login"] * 3 + ["model.res.user.get_preferences"]
    assert len(waits) == 2


def test_429_honours_retry_after_then_gives_up(stub):
    waits: list[float] = []
    Script.answers = [(429, {"Retry-After": "2"}, {})] * 3
    with pytest.raises(RetriableError, match="HTTP 429"):
        TrytonClient(stub, attempts=3, sleep=waits.append)
    assert len(waits) == 2 and all(1.0 <= w <= 2.0 for w in waits)


def test_401_is_fatal_without_retry(stub):
    waits: list[float] = []
    Script.answers = [(401, {}, {})]
    with pytest.raises(AuthError):
        TrytonClient(stub, attempts=4, sleep=waits.append)
    assert Script.seen == ["common.db.login"] and waits == []


def test_server_error_in_body_is_fatal_and_named(stub):
    Script.answers = [LOGIN_OK, PREFS, (200, {}, {"error": ["UserError", ["bad domain"]]})]
    client = TrytonClient(stub)
    with pytest.raises(Exception, match="UserError"):
        client.call("account.invoice", "search_read", [], 0, 10, None, ["number"])

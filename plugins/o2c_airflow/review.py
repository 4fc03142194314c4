"""The finance review pages, served inside the Airflow UI (plugin FastAPI app under /o2c).

Airflow does not put plugin apps behind its authentication, so every route here requires the
Airflow user itself (``get_user``: the UI's session cookie or a bearer token).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                        autoescape=select_autoescape(["html"]))

app = FastAPI(title="o2c-hub review", docs_url=None, redoc_url=None, openapi_url=None)


def _store() -> Any:
    from o2c.store import Store

    return Store.from_settings()


def form_token(user_name: str) -> str:
    """The token the page's forms carry for this user: an HMAC of the user name under Airflow's
    ``[api] secret_key`` (the same on every api-server instance), so another site cannot forge a
    form even where a browser sends neither ``Origin`` nor ``Referer``."""
    from airflow.configuration import conf

    key = (conf.get("api", "secret_key", fallback="") or "o2c-review").encode()
    return hmac.new(key, f"o2c-review-decide:{user_name}".encode(), hashlib.sha256).hexdigest()[:40]


def render_overview(data: dict[str, Any], user_name: str = "", *, message: str = "", error: str = "") -> str:
    """The overview page's HTML (also used by the tests to look at the page)."""
    return TEMPLATES.get_template("review.html").render(user=user_name, message=message, error=error,
                                                         csrf=form_token(user_name), **data)


def _name(user: Any) -> str:
    return getattr(user, "username", "") or str(user)


@app.get("/", response_class=HTMLResponse)
def overview_page(done: str = "", user: Any = Depends(get_user)) -> str:
    from o2c.review import overview

    return render_overview(overview(_store()), _name(user), message=done[:200])


@app.post("/decide")
async def decide_form(request: Request, user: Any = Depends(get_user)) -> Response:
    """A reviewer's decision from the page's forms (form-encoded: line, action, invoices, note).

    The reviewer is the signed-in Airflow user. A browser authenticates with Airflow's session
    cookie, which another site could make it send: such requests must come from this page
    (``Origin`` or ``Referer`` of this host) and carry the page's form token (:func:`form_token`);
    API clients send an explicit bearer token instead.
    """
    from o2c.cash_review import decide
    from o2c.einvoicing import load_config
    from o2c.review import overview
    from o2c.settings import get_settings
    from schemas.errors import HubError

    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

    def field(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    if "authorization" not in request.headers:  # the browser's session cookie: the page's own forms only
        origin = request.headers.get("origin") or request.headers.get("referer") or ""
        if not origin or urlsplit(origin).netloc != request.headers.get("host", ""):
            raise HTTPException(403, "decisions are accepted from the review page itself only")
        if not hmac.compare_digest(field("csrf"), form_token(_name(user))):
            raise HTTPException(403, "the form is out of date or not from the review page: reload the page")

    invoices = [n for n in re.split(r"[\s,;]+", field("invoices")) if n]
    action = field("action")
    store = _store()
    try:
        settings = get_settings()
        res = decide(store, field("line"), action, reviewer=_name(user),
                     invoices=invoices, note=field("note"),
                     einvoicing=load_config(settings.einvoicing_file, settings.home))
    except HubError as exc:
        return HTMLResponse(render_overview(overview(store), _name(user), error=str(exc)), status_code=400)
    done = f"E{res.bank_entry_id} ({res.bank_ref}): {res.action} recorded"
    return RedirectResponse(f"./?done={quote(done)}", status_code=303)


@app.get("/quarantine/{item_id}")
def quarantine_payload(item_id: int, user: Any = Depends(get_user)) -> Response:
    from o2c.review import quarantine_item

    item = quarantine_item(_store(), item_id)
    if item is None:
        raise HTTPException(404, f"no quarantined record {item_id}")
    body = item.raw_payload
    if item.content_type == "application/json":
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False).encode()
    # served as text, never as HTML: payloads come from outside systems
    return Response(body, media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="quarantine-{item_id}.txt"',
                             "X-Content-Type-Options": "nosniff"})

"""The finance review pages, served inside the Airflow UI (plugin FastAPI app under /o2c).

Airflow does not put plugin apps behind its authentication, so every route here requires the
Airflow user itself (``get_user``: the UI's session cookie or a bearer token).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                        autoescape=select_autoescape(["html"]))

app = FastAPI(title="o2c-hub review", docs_url=None, redoc_url=None, openapi_url=None)


def _store() -> Any:
    from o2c.store import Store

    return Store.from_settings()


def render_overview(data: dict[str, Any], user_name: str = "") -> str:
    """The overview page's HTML (also used by the tests to look at the page)."""
    return TEMPLATES.get_template("review.html").render(user=user_name, **data)


@app.get("/", response_class=HTMLResponse)
def overview_page(user: Any = Depends(get_user)) -> str:
    from o2c.review import overview

    return render_overview(overview(_store()), getattr(user, "username", "") or str(user))


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

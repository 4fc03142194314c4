"""The finance review pages, served inside the Airflow UI (plugin FastAPI app under /o2c).

Airflow does not put plugin apps behind its authentication, so every route here requires the
Airflow user itself (``get_user``: the UI's session cookie or a bearer token) and then a finance
permission decided through Airflow's auth manager (:func:`has_permission`):

- ``finance-viewer`` reads the page and the raw quarantined payloads;
- ``finance-reviewer`` records cash decisions (with ``finance-viewer``: the answer is the page),
  and on the collector's worklist (``/o2c/worklist``) opens and resolves disputes and records
  promises to pay.

How the permissions are decided and configured: docs/review-page.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import ConfigError
from transport.redact import redact

log = logging.getLogger(__name__)

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                        autoescape=select_autoescape(["html"]))

app = FastAPI(title="o2c-hub review", docs_url=None, redoc_url=None, openapi_url=None)

FINANCE_VIEWER = "finance-viewer"
FINANCE_REVIEWER = "finance-reviewer"
# the environment variable narrowing each permission to Airflow roles / users (default "*": no narrowing)
GRANT_VARS = {FINANCE_VIEWER: "O2C_REVIEW_VIEWERS", FINANCE_REVIEWER: "O2C_REVIEW_REVIEWERS"}
# the DAG whose permissions the auth manager is asked about: reading it = finance-viewer,
# editing it = finance-reviewer (decisions change what the cash-application DAG produced)
DEFAULT_REVIEW_DAG = "cash_application"
# stored payload types served under their own type (and file extension); any other goes out as octet-stream
_PAYLOAD_TYPES = {"application/json": ("application/json", "json"),
                  "application/xml": ("application/xml", "xml"),
                  "text/xml": ("application/xml", "xml"),
                  "text/plain": ("text/plain; charset=utf-8", "txt"),
                  "text/csv": ("text/csv; charset=utf-8", "csv")}


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Refusals as one line of plain text (not FastAPI's JSON), keeping e.g. ``WWW-Authenticate``."""
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=getattr(exc, "headers", None))


@app.exception_handler(RequestValidationError)
async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
    """A malformed path or query (e.g. a non-numeric payload id): a plain 400, not the validator's dump."""
    return PlainTextResponse("bad request: check the address", status_code=400)


@app.exception_handler(ConfigError)
async def _config_error(request: Request, exc: ConfigError) -> Response:
    """The hub is not set up for the page (store not migrated, bad settings): say what to do."""
    log.error("o2c review page: %s", exc)
    return PlainTextResponse(f"the hub store cannot be shown: {redact(str(exc))}", status_code=503)


@app.exception_handler(Exception)
async def _failure(request: Request, exc: Exception) -> Response:
    """Anything unexpected: logged with its traceback on the api-server, a plain message to the user."""
    log.exception("o2c review page: %s %s failed", request.method, request.url.path)
    return PlainTextResponse("the review page failed; the api-server log has the details", status_code=500)


def _grants(permission: str) -> list[tuple[str, str]]:
    """The entries of the permission's variable (``O2C_REVIEW_VIEWERS`` / ``O2C_REVIEW_REVIEWERS``):
    ``*`` (whoever the auth manager allows), ``role:NAME`` or ``user:NAME``, comma-separated.
    Unset means ``*``; set but empty means nobody. A malformed entry is a configuration error,
    never read as "everyone"."""
    from schemas.errors import ConfigError

    var = GRANT_VARS[permission]
    raw = os.environ.get(var)
    if raw is None:
        return [("*", "")]
    grants: list[tuple[str, str]] = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        if entry == "*":
            grants.append(("*", ""))
            continue
        kind, sep, name = entry.partition(":")
        kind, name = kind.strip().lower(), name.strip()
        if not sep or kind not in ("role", "user") or not name:
            raise ConfigError(f"{var}: entry {entry!r} is not '*', 'role:NAME' or 'user:NAME'")
        grants.append((kind, name))
    return grants


def _roles(user: Any) -> set[str]:
    """The user's Airflow role names, lower-cased: SimpleAuthManager users have one ``role``, FAB
    users a list of ``roles``; an auth manager with neither (Keycloak) gives none."""
    names: set[str] = set()
    role = getattr(user, "role", None)
    if isinstance(role, str) and role:
        names.add(role)
    for r in getattr(user, "roles", None) or ():
        name = getattr(r, "name", r)
        if isinstance(name, str) and name:
            names.add(name)
    return {n.lower() for n in names}


def has_permission(user: Any, permission: str) -> bool:
    """Whether the Airflow ``user`` holds ``permission`` (``finance-viewer`` / ``finance-reviewer``).

    Airflow's auth manager decides first: finance-viewer needs read access (GET) to the DAG named
    by ``O2C_REVIEW_DAG`` (default ``cash_application``), finance-reviewer edit access (PUT) to it;
    SimpleAuthManager grants GET to every role and PUT from ``user`` up, FAB to the roles holding
    ``can_read`` / ``can_edit`` on DAGs or on that DAG. The permission's role/user list can then
    only narrow that answer, never widen it.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    dag_id = os.environ.get("O2C_REVIEW_DAG", "").strip() or DEFAULT_REVIEW_DAG
    method = "GET" if permission == FINANCE_VIEWER else "PUT"
    if not get_auth_manager().is_authorized_dag(method=method, details=DagDetails(id=dag_id), user=user):
        return False
    grants = _grants(permission)
    roles = _roles(user)
    name = _name(user)
    return any(kind == "*" or (kind == "role" and value.lower() in roles) or (kind == "user" and value == name)
               for kind, value in grants)


def requires(*permissions: str) -> Callable[..., Any]:
    """A route dependency: the signed-in user, refused (403, plain message) without every permission."""

    def dependency(user: Any = Depends(get_user)) -> Any:
        from schemas.errors import ConfigError

        for permission in permissions:
            try:
                allowed = has_permission(user, permission)
            except ConfigError as exc:
                log.error("o2c review page: %s", exc)
                raise HTTPException(500, f"the review page's access settings are invalid: {exc}") from None
            if not allowed:
                raise HTTPException(403, f"{_name(user)} does not have the {permission} permission "
                                         "of the o2c-hub review page")
        return user

    return dependency


a_viewer = requires(FINANCE_VIEWER)
a_reviewer = requires(FINANCE_VIEWER, FINANCE_REVIEWER)


def _store() -> Any:
    """The hub store, its schema revision checked (a store not migrated, or migrated by newer code,
    is refused with the page's one-line message: the page never migrates and never reads tables
    it does not know)."""
    from o2c.store import Store

    store = Store.from_settings()
    store.check_revision()
    return store


def form_token(user_name: str) -> str:
    """The token the page's forms carry for this user: an HMAC of the user name under Airflow's
    ``[api] secret_key`` (the same on every api-server instance), so another site cannot forge a
    form even where a browser sends neither ``Origin`` nor ``Referer``."""
    from airflow.configuration import conf

    key = (conf.get("api", "secret_key", fallback="") or "o2c-review").encode()
    return hmac.new(key, f"o2c-review-decide:{user_name}".encode(), hashlib.sha256).hexdigest()[:40]


def render_overview(data: dict[str, Any], user_name: str = "", *, message: str = "", error: str = "",
                    can_decide: bool = True) -> str:
    """The overview page's HTML (also used by the tests to look at the page); the decision forms
    only for a user who may decide (``can_decide``)."""
    return TEMPLATES.get_template("review.html").render(user=user_name, message=message, error=error,
                                                         csrf=form_token(user_name), can_decide=can_decide,
                                                         **data)


def _name(user: Any) -> str:
    return getattr(user, "username", "") or str(user)


def _may_decide(user: Any) -> bool:
    """Whether to show the decision forms (the decide route checks again on every post)."""
    from schemas.errors import ConfigError

    try:
        return has_permission(user, FINANCE_REVIEWER)
    except ConfigError:
        return False


def _bearer_only(request: Request) -> bool:
    """Whether the request's credential is an explicit ``Authorization: Bearer`` token and no
    session cookie came with it: an API client. ``get_user`` has already validated that token (it
    prefers it over the cookie); another site cannot make a browser send such a header. Any other
    scheme (``Basic ...``) leaves the cookie as the credential, so it does not count."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip()) and COOKIE_NAME_JWT_TOKEN not in request.cookies


def _page_data(store: Any) -> dict[str, Any]:
    """What the overview shows: :func:`o2c.review.overview` and the write-back commands awaiting
    approval, per source, with the latest approvals."""
    from o2c.jobs.approval import approvals, awaiting, describe
    from o2c.review import overview

    data = overview(store)
    waiting: dict[str, list[dict[str, Any]]] = {}
    for row in awaiting(store):
        waiting.setdefault(row.source, []).append(describe(row))
    return {**data, "awaiting": waiting, "approvals": approvals(store, limit=20)}


def _check_page_form(request: Request, user: Any, token: str) -> None:
    """A post with the browser's session cookie must come from this page (``Origin`` or ``Referer``
    of this host) and carry the page's form token; a bearer token alone (an API client) need not."""
    if _bearer_only(request):
        return
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    if not origin or urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, "decisions are accepted from the review page itself only")
    if not hmac.compare_digest(token, form_token(_name(user))):
        raise HTTPException(403, "the form is out of date or not from the review page: reload the page")


@app.get("/", response_class=HTMLResponse)
def overview_page(done: str = "", user: Any = Depends(a_viewer)) -> str:
    return render_overview(_page_data(_store()), _name(user), message=done[:200], can_decide=_may_decide(user))


@app.post("/decide")
async def decide_form(request: Request, user: Any = Depends(a_reviewer)) -> Response:
    """A reviewer's decision from the page's forms (form-encoded: line, action, invoices, note).

    The reviewer is the signed-in Airflow user holding finance-reviewer. A browser authenticates
    with Airflow's session cookie, which another site could make it send: unless the credential is
    a bearer token alone (:func:`_bearer_only`, API clients), a post must come from this page
    (``Origin`` or ``Referer`` of this host) and carry the page's form token (:func:`form_token`).
    """
    from o2c.config import load_einvoicing
    from o2c.jobs.cash_review import decide
    from schemas.errors import HubError

    field = await _page_form(request, user)
    invoices = [n for n in re.split(r"[\s,;]+", field("invoices")) if n]
    action = field("action")
    store = _store()
    try:
        res = decide(store, field("line"), action, reviewer=_name(user),
                     invoices=invoices, note=field("note"), einvoicing=load_einvoicing(),
                     dispute=field("dispute") or None)
    except HubError as exc:
        return HTMLResponse(render_overview(_page_data(store), _name(user), error=str(exc)), status_code=400)
    done = f"E{res.bank_entry_id} ({res.bank_ref}): {res.action} recorded" + "".join(
        f"; dispute {i} opened on {n} for {a} unpaid" for n, a, i in res.disputes)
    return RedirectResponse(f"./?done={quote(done)}", status_code=303)


async def _page_form(request: Request, user: Any) -> Callable[[str], str]:
    """The posted form's fields (form-encoded), once the post is known to come from the page.

    A browser authenticates with Airflow's session cookie, which another site could make it send:
    unless the credential is a bearer token alone (:func:`_bearer_only`, API clients), a post must
    come from this page (``Origin`` or ``Referer`` of this host) and carry the page's form token
    (:func:`form_token`)."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

    def field(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    _check_page_form(request, user, field("csrf"))  # the browser's session cookie: the page's own forms only
    return field


# -- the collector's worklist ---------------------------------------------------------------
def render_worklist(rows: list[Any], as_of: Any, user_name: str = "", *, message: str = "", error: str = "",
                    can_decide: bool = True) -> str:
    """The worklist page's HTML (:func:`o2c.jobs.worklist.worklist`); the dispute and promise forms
    only for a user who may decide."""
    from o2c.store.collections import DEFAULT_REASONS, OUTCOMES

    return TEMPLATES.get_template("worklist.html").render(
        rows=rows, as_of=as_of, user=user_name, message=message, error=error, csrf=form_token(user_name),
        can_decide=can_decide, reasons=DEFAULT_REASONS, outcomes=OUTCOMES)


def _as_of(text: str) -> Any:
    import datetime as dt

    if not text:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise HTTPException(400, "bad request: as_of is a date such as 2026-12-07") from None


def _worklist_rows(as_of: Any) -> list[Any]:
    from o2c.config import load_collections
    from o2c.jobs.worklist import worklist

    return worklist(_store(), load_collections(), as_of)


@app.get("/worklist", response_class=HTMLResponse)
def worklist_page(as_of: str = "", done: str = "", user: Any = Depends(a_viewer)) -> str:
    day = _as_of(as_of)
    return render_worklist(_worklist_rows(day), day, _name(user), message=done[:200], can_decide=_may_decide(user))


@app.post("/worklist")
async def worklist_form(request: Request, user: Any = Depends(a_reviewer)) -> Response:
    """A finance reviewer's change from the worklist's forms (``do``: ``dispute`` opens one on an
    invoice, ``resolve`` resolves one, ``promise`` records a promise to pay), under the signed-in
    user's name; the same checks as a cash decision (:func:`_page_form`)."""
    import datetime as dt

    from o2c.store.collections import add_promise, open_dispute, resolve_dispute
    from schemas.errors import HubError

    field = await _page_form(request, user)
    who, do = _name(user), field("do")
    day = _as_of(field("as_of"))
    store = _store()
    try:
        if do == "dispute":
            row = open_dispute(store, field("invoice"), reason=field("reason"), by=who, amount=field("amount") or None,
                               owner=field("owner") or None, comment=field("comment") or None, origin="page")
            done = f"dispute {row.id} on {row.invoice_number}: {row.reason_code}, {row.status}"
        elif do == "resolve":
            if not field("dispute").isdigit():
                raise ConfigError("name the dispute to resolve by its number")
            row = resolve_dispute(store, int(field("dispute")), outcome=field("outcome"), by=who,
                                  comment=field("comment") or None)
            done = f"dispute {row.id} on {row.invoice_number}: resolved, {row.outcome}"
        elif do == "promise":
            try:
                due = dt.date.fromisoformat(field("due"))
            except ValueError:
                raise ConfigError("give the promised date as YYYY-MM-DD") from None
            invoices = [n for n in re.split(r"[\s,;]+", field("invoices")) if n]
            promise = add_promise(store, invoices, amount=field("amount"), due_on=due, by=who, note=field("note") or None,
                                  origin="page")
            done = f"promise {promise.id}: {promise.amount} {promise.currency} by {promise.due_on}"
        else:
            raise ConfigError(f"unknown worklist action {do[:30]!r}: dispute, resolve or promise")
    except HubError as exc:
        return HTMLResponse(render_worklist(_worklist_rows(day), day, who, error=str(exc)), status_code=400)
    return RedirectResponse(f"worklist?as_of={day.isoformat()}&done={quote(done)}", status_code=303)


@app.post("/approve")
async def approve_form(request: Request, user: Any = Depends(a_reviewer)) -> Response:
    """An approver's decision over write-back commands awaiting approval (form-encoded: source,
    decision approve/refuse, commands: ids, reason), through :func:`o2c.jobs.approval.decide`.

    The approver is the signed-in Airflow user: a finance-reviewer, and one of the source's
    configured approvers when it names some. Same page checks as :func:`decide_form`."""
    from o2c.jobs.approval import decide
    from o2c.settings import get_settings
    from o2c.sources import get_source, load_sources
    from schemas.errors import HubError

    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

    def field(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    _check_page_form(request, user, field("csrf"))
    store = _store()
    try:
        decision = field("decision")
        if decision not in ("approve", "refuse"):
            raise HubError(f"unknown decision {decision!r}: approve or refuse")
        texts = [c for value in form.get("commands") or [] for c in re.split(r"[\s,;]+", value) if c]
        if not texts:
            raise HubError("tick the commands to decide on")
        if not all(c.isdigit() and len(c) <= 18 for c in texts):
            raise HubError("commands are given by their numbers")
        source = get_source(load_sources(get_settings().sources_file), field("source"))
        res = decide(store, source, decision, by=_name(user), reason=field("reason"),  # type: ignore[arg-type]
                     commands=[int(c) for c in texts], via="page")
    except HubError as exc:
        return HTMLResponse(render_overview(_page_data(store), _name(user), error=str(exc)), status_code=400)
    done = f"{res.source}: {res.decision} command(s) {', '.join(map(str, res.commands))}"
    return RedirectResponse(f"./?done={quote(done)}", status_code=303)


@app.get("/invoice", response_class=HTMLResponse)
def invoice_page(ref: str = "", user: Any = Depends(a_viewer)) -> str:
    """One invoice's story (``ref``: its number, SOURCE:NUMBER or SOURCE:ID): the open amount and how
    it is made (the ERP's state and versions, the hub's allocations and their write-back), and the
    audit trail of everything the hub did about it, with whether the chain checks."""
    from o2c.jobs.receivables import explain
    from o2c.store.audit import trail, verify

    if not ref or len(ref) > 300:
        raise HTTPException(400, "bad request: give ?ref=SOURCE:NUMBER")
    store = _store()
    try:
        ex = explain(store, ref)
    except ConfigError as exc:
        raise HTTPException(404, str(exc)) from None
    entries = trail(store, f"invoice:{ex.source}:{ex.source_id}")
    for a in ex.allocations:
        entries += [e for e in trail(store, f"bank_entry:{a['bank_entry']}") if e.seq not in {x.seq for x in entries}]
    entries.sort(key=lambda e: e.seq)
    return TEMPLATES.get_template("invoice.html").render(ex=ex, entries=entries, chain=verify(store), user=_name(user))


@app.get("/quarantine/{item_id}")
def quarantine_payload(item_id: int, user: Any = Depends(a_viewer)) -> Response:
    """The raw payload of one quarantined record, as the outside system sent it, to finance-viewers
    only. Always a download (``attachment``) under its own type, never sniffed: it is outside data
    and must not run as a page of this site; an unknown type goes out as octet-stream."""
    from o2c.review import quarantine_item

    item = quarantine_item(_store(), item_id)
    if item is None:
        raise HTTPException(404, f"no quarantined record {item_id}")
    stored = (item.content_type or "").split(";")[0].strip().lower()
    media_type, ext = _PAYLOAD_TYPES.get(stored, ("application/octet-stream", "bin"))
    return Response(item.raw_payload, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="quarantine-{item_id}.{ext}"',
                             "X-Content-Type-Options": "nosniff"})

"""The ``erp_writeback`` DAG's approval task: Airflow's human-in-the-loop operator asking a source's
approvers about the write-back commands waiting for them.

:class:`WriteBackApprovalOperator` is the standard provider's ``HITLOperator`` with two options,
``Approve`` and ``Refuse``, a ``reason`` field, and ``Refuse`` as the default: when nobody answers
within the source's ``response_timeout`` the scheduler resumes the task with ``Refuse`` (Airflow
applies a request's defaults at its timeout), so a timeout can never approve. What the request says
comes from the task before it (``request``, rendered at run time from its XCom: the source, the
commands waiting with amount and target, the approvers, the timeout); the respondents are the
source's configured approvers (``assigned_users``: Airflow checks the responding user's id, which
SimpleAuthManager sets to the user name). With nothing waiting the task is skipped.

This module imports only Airflow at module level (the DAG file imports it at parse time); the
response is recorded by the next task through :func:`o2c.jobs.approval.decide`
(:func:`o2c_airflow.writeback.record_response`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowSkipException

APPROVE = "Approve"
REFUSE = "Refuse"
MAX_LISTED = 50  # commands listed in the body; the rest are counted (all are decided)
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def _md(value: Any) -> str:
    """Outside text (bank references, invoice numbers) as plain Markdown text, on one line."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(value if value is not None else "").split()))[:120]


def request_body(request: dict[str, Any]) -> str:
    """The Markdown body listing the commands waiting (what an approver decides on)."""
    commands = request.get("commands") or []
    lines = [f"Source **{_md(request['source'])}**: {len(commands)} write-back command(s) wait for an approval "
             "before they are sent to the ERP. *Approve* sends them with the next push, *Refuse* marks them refused "
             "(never sent). Give the reason below; no answer in time refuses them"
             + (" (on_timeout: wait keeps them waiting)" if request.get("on_timeout") == "wait" else "") + ".",
             "", "| command | kind | target | amount | bank reference | why it waits |", "|---|---|---|---|---|---|"]
    for c in commands[:MAX_LISTED]:
        lines.append(f"| {c['id']} | {_md(c['kind'])} | {_md(c['target'])} | {_md(c.get('amount') or '')} "
                     f"{_md(c.get('currency') or '')} | {_md(c.get('bank_ref') or '')} | {_md(c.get('policy') or '')} |")
    if len(commands) > MAX_LISTED:
        lines.append(f"| … | and {len(commands) - MAX_LISTED} more | | | | |")
    return "\n".join(lines)


class WriteBackApprovalOperator(HITLOperator):
    """Ask the source's approvers to approve or refuse the commands of ``request`` (an XCom:
    ``{source, commands: [{id, kind, target, amount, currency, bank_ref, policy}], approvers,
    response_timeout_seconds, on_timeout}``); skipped when no command waits.

    Returns the response with the request's source and command ids:
    ``{chosen_options, params_input, responded_at, responded_by_user, source, commands, timed_out}``.
    """

    template_fields = (*HITLOperator.template_fields, "request")

    def __init__(self, *, request: Any, **kwargs: Any) -> None:
        # the DAG's own parameters (dry_run) come in ``params`` too: the HITL form shows only the reason
        kwargs.pop("params", None)
        super().__init__(subject="Write-back approval", options=[APPROVE, REFUSE], defaults=[REFUSE], multiple=False,
                         params={"reason": Param("", type="string", title="Reason",
                                                 description="why you approve or refuse (stored with the decision)")},
                         **kwargs)
        self.request = request

    def execute(self, context: Any) -> Any:
        request = self.request or {}
        if not request.get("commands"):
            raise AirflowSkipException(f"{request.get('source', 'this source')}: no write-back command awaits approval")
        self.subject = f"{request['source']}: approve {len(request['commands'])} write-back command(s)?"
        self.body = request_body(request)
        self.assigned_users = [{"id": name, "name": name} for name in request.get("approvers") or []] or None
        self.response_timeout = dt.timedelta(seconds=int(request["response_timeout_seconds"]))
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        response = super().execute_complete(context, event)
        request = self.request or {}
        responded_at = response["responded_at"]
        return {**response, "responded_at": responded_at.isoformat() if hasattr(responded_at, "isoformat") else responded_at,
                "source": request.get("source"), "commands": [c["id"] for c in request.get("commands") or []],
                "timed_out": bool(event.get("timedout"))}

"""Approval before anything leaves: which write-back commands wait for a person, and the one
function that records a person's decision over them (no Airflow here).

- At enqueue, :func:`enqueue_status` asks the source's policy
  (:class:`o2c.config.WriteBackApprovalConfig`, ``sources[].writeback``) whether a command flows
  without a person (``pending``: the next push sends it) or waits (``awaiting_approval``: never
  claimed nor sent). A kind with no policy waits.
- :func:`decide` (``approve`` / ``refuse``) is the only way out of ``awaiting_approval``, whether
  the decision comes from ``o2c writeback approve|refuse``, the review page or the ``erp_writeback``
  DAG's human-in-the-loop task: in one transaction it checks the person against the source's
  approvers, turns the commands still awaiting ``pending`` (approved) or ``refused`` (never
  sent), stores one :class:`o2c.store.approval.WriteBackApproval` row (who, when, decision,
  reason, where, the commands) and appends one audit entry per command (``approval.given`` /
  ``approval.refused``, actor the person).

>>> from o2c.store import Store
>>> store = Store("sqlite://"); store.upgrade()
>>> awaiting(store, "erp1")
[]
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import select

from o2c.config import SourceConfig, WriteBackApprovalConfig
from o2c.store import Store, audit, utcnow
from o2c.store.approval import WriteBackApproval
from o2c.store.writeback import WriteBackRow
from schemas.errors import FatalError
from schemas.receivables import WriteBackCommand

log = logging.getLogger(__name__)

AWAITING = "awaiting_approval"
#: the actor of a refusal Airflow records when nobody answered in time (``on_timeout: refuse``)
TIMEOUT_ACTOR = "airflow:timeout"
MAX_REASON_CHARS = 2000
Decision = Literal["approve", "refuse"]


class ApprovalError(FatalError):
    """A decision that cannot be recorded: not an approver, no reason, nothing awaiting (the
    message says what to do); nothing was changed."""


def command_amount(command: WriteBackCommand | WriteBackRow) -> Decimal | None:
    """The amount a command carries (``payload.amount``), or None."""
    raw = (command.payload or {}).get("amount")
    if raw is None:
        return None
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None


def enqueue_status(config: WriteBackApprovalConfig, command: WriteBackCommand,
                   allocation_status: str | None = None) -> tuple[str, str]:
    """The status a new command is enqueued with, ``pending`` or ``awaiting_approval``, and why
    (kept in its audit entry; shown to the approvers)."""
    flows, why = config.flows(command.kind, command_amount(command), allocation_status)
    return ("pending" if flows else AWAITING), why


def awaiting(store: Store, source: str | None = None) -> list[WriteBackRow]:
    """The commands waiting for approval (of one source), oldest first."""
    with store.session() as s:
        q = select(WriteBackRow).where(WriteBackRow.status == AWAITING).order_by(WriteBackRow.id)
        if source:
            q = q.where(WriteBackRow.source == source)
        return list(s.scalars(q))


def describe(row: WriteBackRow) -> dict[str, Any]:
    """What an approver sees of one command: id, kind, target, amount, currency, bank reference."""
    p = row.payload or {}
    return {"id": row.id, "key": row.idempotency_key, "kind": row.kind, "target_id": row.target_id,
            "target": p.get("invoice_number") or row.target_id, "amount": p.get("amount"),
            "currency": p.get("currency"), "bank_ref": p.get("bank_ref"), "reason": row.reason}


@dataclass
class ApprovalResult:
    """What one :func:`decide` recorded."""

    approval_id: int
    source: str
    decision: str  # approved, refused
    decided_by: str
    decided_at: dt.datetime
    commands: list[int] = field(default_factory=list)  # decided now
    skipped: dict[int, str] = field(default_factory=dict)  # named but no longer awaiting: id -> its status

    def as_dict(self) -> dict[str, Any]:
        return {"approval_id": self.approval_id, "source": self.source, "decision": self.decision,
                "decided_by": self.decided_by, "decided_at": self.decided_at.isoformat(),
                "commands": self.commands, "skipped": {str(k): v for k, v in self.skipped.items()}}


def check_approver(by: str, approvers: Sequence[str], source: str) -> None:
    """``by`` may decide for ``source``: any name when no approvers are configured, else one of them."""
    if by == TIMEOUT_ACTOR:
        return
    if approvers and by not in approvers:
        raise ApprovalError(f"{by!r} is not an approver of source {source!r} (approvers: {', '.join(approvers)}); "
                            f"add the name under sources[{source}].writeback.approvers to let them decide")


def decide(store: Store, source: SourceConfig | str, decision: Decision, *, by: str, reason: str,
           commands: Iterable[int] | None = None, approvers: Sequence[str] | None = None,
           via: Literal["cli", "page", "airflow"] = "cli", at: dt.datetime | None = None) -> ApprovalResult:
    """Record ``by``'s decision over ``commands`` of ``source`` (None: every command awaiting).

    ``source`` is the source's configuration (its ``writeback.approvers`` are checked) or, with
    ``approvers`` given, its name. Commands named that no longer await (approved, refused, sent
    meanwhile) are left as they are and reported in ``skipped``; a command of another source or
    unknown is an error, and so is a decision that would cover nothing. Nothing is changed when
    an error is raised."""
    if isinstance(source, SourceConfig):
        name, allowed = source.name, tuple(source.writeback.approvers) if approvers is None else tuple(approvers)
    else:
        name, allowed = source, tuple(approvers or ())
    if decision not in ("approve", "refuse"):
        raise ApprovalError(f"unknown decision {decision!r}: approve or refuse")
    by = (by or "").strip()
    reason = (reason or "").strip()
    if not by:
        raise ApprovalError("say who decides (--by NAME: the approver's Airflow user name)")
    if not reason:
        raise ApprovalError("give the reason of the decision (--reason TEXT); it is stored with the approval")
    if len(reason) > MAX_REASON_CHARS:
        raise ApprovalError(f"the reason is over {MAX_REASON_CHARS} characters; write a shorter one")
    check_approver(by, allowed, name)
    wanted = None if commands is None else sorted({int(c) for c in commands})
    if wanted is not None and not wanted:
        raise ApprovalError("no command named: give command ids (--commands 12 13) or --all")
    when = (at or utcnow()).astimezone(dt.UTC)
    status, outcome, action = (("pending", "approved", "approval.given") if decision == "approve"
                               else ("refused", "refused", "approval.refused"))
    with store.session() as s:
        q = select(WriteBackRow).where(WriteBackRow.source == name)
        q = q.where(WriteBackRow.id.in_(wanted)) if wanted is not None else q.where(WriteBackRow.status == AWAITING)
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        rows = list(s.scalars(q.order_by(WriteBackRow.id)))
        if wanted is not None:
            unknown = sorted(set(wanted) - {r.id for r in rows})
            if unknown:
                raise ApprovalError(f"no command {', '.join(map(str, unknown))} of source {name!r} in the outbox "
                                    f"(`o2c writeback awaiting {name}` lists the commands waiting)")
        skipped = {r.id: r.status for r in rows if r.status != AWAITING}
        rows = [r for r in rows if r.status == AWAITING]
        if not rows:
            what = f"commands {', '.join(map(str, wanted))}" if wanted is not None else "no command"
            raise ApprovalError(f"source {name!r}: {what} awaiting approval"
                                + (f" (now {', '.join(f'{k}: {v}' for k, v in skipped.items())})" if skipped else ""))
        covered = [describe(r) for r in rows]
        approval = WriteBackApproval(source=name, decision=outcome, decided_by=by[:200], decided_at=when, reason=reason,
                                     via=via, commands=[{k: v for k, v in c.items() if k != "reason"} for c in covered])
        s.add(approval)
        s.flush()
        for row in rows:
            row.status = status
            row.approval_id = approval.id
            if status == "refused":
                row.last_error = f"refused by {by}: {reason}"[:2000]
            audit.append(s, actor=by, action=action, subject=f"invoice:{row.source}:{row.target_id}",
                         details={"approval": approval.id, "kind": row.kind, "key": row.idempotency_key,
                                  "command": row.id, "amount": (row.payload or {}).get("amount"), "reason": reason,
                                  "via": via}, at=when)
        result = ApprovalResult(approval_id=approval.id, source=name, decision=outcome, decided_by=by, decided_at=when,
                                commands=[r.id for r in rows], skipped=skipped)
    log.info("write-back %s: %s %s %d command(s) %s (%s): %s", name, by, outcome, len(result.commands),
             result.commands, via, reason)
    return result


def approve(store: Store, source: SourceConfig | str, **kwargs: Any) -> ApprovalResult:
    """:func:`decide` with ``approve``: the commands turn ``pending`` and leave with the next push."""
    return decide(store, source, "approve", **kwargs)


def refuse(store: Store, source: SourceConfig | str, **kwargs: Any) -> ApprovalResult:
    """:func:`decide` with ``refuse``: the commands turn ``refused`` and are never sent."""
    return decide(store, source, "refuse", **kwargs)


def approvals(store: Store, source: str | None = None, *, limit: int = 50) -> list[WriteBackApproval]:
    """The latest approvals (of one source), newest first."""
    with store.session() as s:
        q = select(WriteBackApproval).order_by(WriteBackApproval.id.desc()).limit(limit)
        if source:
            q = q.where(WriteBackApproval.source == source)
        return list(s.scalars(q))

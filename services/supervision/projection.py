"""The projection: every event of every service becomes the case as a whole, its timeline, deadlines and alerts.

Order-insensitive on purpose — events of one case arrive on several topics with no order between them, and a
rebuild replays topics one after another: each guarded field keeps the time of the event that set it, the
timeline is sorted by event time when read, and alerts follow the deadline's latest known state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import asyncpg

from events.envelope import CloudEvent
from services.backbone import tracing
from services.backbone.consumer import HandlerContext, Handlers
from services.hierarchy.orgunits import Hierarchy
from services.supervision import alerts, repository
from services.supervision.domain import worker_steps
from services.supervision.domain.timeline import describe
from services.supervision.repository import set_case, set_guarded

PARTNER_INBOUND = ("court.case_referred", "court.confirmation_decided", "court.case_filed", "bureau.case_referred",
                   "bureau.arbitration_accepted", "bureau.award_issued")
Apply = Callable[[asyncpg.Connection, str, CloudEvent, dict[str, Any]], Awaitable[None]]


async def _refs(conn: asyncpg.Connection, case_id: str, refs: dict[str, Any]) -> None:
    await repository.add_refs(conn, case_id, [refs[k] for k in ("court_case_no", "arbitration_case_no") if refs.get(k)])


# --- per event type ----------------------------------------------------------------------------------------


async def _received(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    f = d["facts"]
    amount = sum(float(c.get("amount_cny") or 0) for c in f["claims"])
    await set_case(conn, case_id, channel=f["channel"], region_code=f["region_code"], received_at=f["received_at"],
                   worker_count=len(f["workers"]), claim_types=sorted({c["type"] for c in f["claims"]}),
                   claim_amount=amount, group_dispute=f.get("group_dispute", False))
    await repository.add_parties(conn, case_id, names=[w["name"] for w in f["workers"]],
                                 ids=[w["id_number"] for w in f["workers"]], employer=f["employer"]["name"])
    await _refs(conn, case_id, f.get("refs", {}))
    refs = f.get("refs", {})
    if refs.get("court_code") or refs.get("bureau_code"):
        await set_case(conn, case_id, partner_code=refs.get("court_code") or refs.get("bureau_code"))
    await set_guarded(conn, case_id, "status", "received", e.time)
    await set_guarded(conn, case_id, "stage", "intake", e.time)


async def _tier(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_guarded(conn, case_id, "tier", d.get("tier") or d.get("to_tier"), e.time)


async def _linked(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await repository.add_workers(conn, case_id, new_workers=d.get("new_workers", 0),
                                 group_dispute=d.get("group_dispute", False))
    workers = d["submission"].get("workers", [])
    await repository.add_parties(conn, case_id, names=[w["name"] for w in workers],
                                 ids=[w["id_number"] for w in workers], employer=None)
    await _refs(conn, case_id, d["submission"].get("refs", {}))


async def _dispatched(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_guarded(conn, case_id, "org_unit", d["org_unit"], e.time)
    await set_guarded(conn, case_id, "status", "dispatched", e.time)
    await set_guarded(conn, case_id, "stage", d["route"], e.time)
    await set_case(conn, case_id, route=d["route"])


async def _answered(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_guarded(conn, case_id, "status", "resolved", e.time)
    if d.get("org_unit"):
        await set_guarded(conn, case_id, "org_unit", d["org_unit"], e.time)
    await set_case(conn, case_id, route=d["resolution"], resolved_at=d["answered_at"])


async def _mediation_opened(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_guarded(conn, case_id, "stage", "mediation", e.time)
    await set_guarded(conn, case_id, "org_unit", d["org_unit"], e.time)


async def _assigned(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_case(conn, case_id, mediator_id=d["mediator_id"], mediator_name=d["mediator_name"])
    await set_guarded(conn, case_id, "status", "in_mediation", e.time)


async def _settled(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_case(conn, case_id, settled_amount=float(d["agreement"]["amount_cny"]))


async def _mediation_resolved(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_case(conn, case_id, mediation_outcome=d["outcome"], returned_to=d.get("returned_to"))
    if d.get("to_legal_aid"):
        await set_guarded(conn, case_id, "stage", "legal_aid", e.time)
        return
    await set_case(conn, case_id, resolved_at=d["resolved_at"])
    await set_guarded(conn, case_id, "status", "resolved", e.time)
    await set_guarded(conn, case_id, "stage", "followup", e.time)


async def _reopened(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await repository.count_reopening(conn, case_id)
    await set_guarded(conn, case_id, "status", "reopened", e.time)


async def _legal_aid(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_case(conn, case_id, legal_aid=True)
    await set_guarded(conn, case_id, "stage", "legal_aid", e.time)
    if d.get("org_unit"):
        await set_guarded(conn, case_id, "org_unit", d["org_unit"], e.time)


async def _represented(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_guarded(conn, case_id, "status", "represented", e.time)


async def _concluded(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_case(conn, case_id, amount_recovered=float(d["amount_recovered_cny"]), resolved_at=d["concluded_at"])
    await set_guarded(conn, case_id, "status", "resolved", e.time)
    await set_guarded(conn, case_id, "stage", "followup", e.time)


async def _satisfaction(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    if d.get("satisfaction"):
        await set_case(conn, case_id, satisfaction=d["satisfaction"])


async def _closed(conn: asyncpg.Connection, case_id: str, e: CloudEvent, d: dict[str, Any]) -> None:
    await set_case(conn, case_id, closed_at=d["closed_at"])
    await set_guarded(conn, case_id, "status", "closed", e.time)
    await set_guarded(conn, case_id, "stage", "closed", e.time)


APPLY: dict[str, Apply] = {
    "intake.case_received": _received,
    "intake.case_triaged": _tier,
    "intake.case_reclassified": _tier,
    "intake.case_linked": _linked,
    "intake.case_dispatched": _dispatched,
    "intake.case_answered": _answered,
    "mediation.case_opened": _mediation_opened,
    "mediation.mediator_assigned": _assigned,
    "mediation.settled": _settled,
    "mediation.case_resolved": _mediation_resolved,
    "mediation.case_reopened": _reopened,
    "followup.case_reopened": _reopened,
    "legalaid.application_received": _legal_aid,
    "legalaid.lawyer_assigned": _represented,
    "legalaid.case_concluded": _concluded,
    "followup.completed": _satisfaction,
    "followup.case_closed": _closed,
}


def handlers(*, hierarchy: Hierarchy) -> Handlers:
    """One handler for every event type but supervision's own and sessions' (auth.* concern sessions, not cases:
    the runtime keeps the revocations)."""
    from events.catalog import EVENTS

    names = {code: unit.name for code, unit in hierarchy.units.items()}

    async def project(ctx: HandlerContext, event: CloudEvent, data: Any) -> None:
        raw = event.data or {}  # stored as published
        d = data.model_dump()  # typed: datetimes, amounts
        conn = ctx.conn
        summary = describe(event.type, raw, names)
        if event.type in PARTNER_INBOUND:
            await repository.record_partner_event(
                conn, event_id=event.id, ref=d.get("court_case_no") or d.get("arbitration_case_no"), type=event.type,
                source=event.source, at=event.time, summary=summary, data=raw, sender=getattr(ctx.partner, "code", None))
            return
        if event.type == "intake.duplicate_suspected":
            await _duplicate(ctx, d)
            return
        if event.type == "calendar.year_missing":
            await alerts.raise_alert(ctx, kind="calendar", case_id=None, deadline_id=f"calendar-{d['year']}",
                                     deadline_kind="calendar", org_unit=None, at=event.time,
                                     detail={"year": d["year"], "service": d["service"]})
            return
        case_id = d.get("case_id") or event.subject
        if not case_id or event.type.startswith("supervision.") or event.type == "calendar.year_loaded":
            return
        if event.type == "intake.query_code_set":  # the worker's door only: a hash, never on the timeline
            await repository.public_code(conn, case_id, d["code_hash"], replaces=d.get("replaces", False))
            return
        if event.type in worker_steps.SHOWN:
            _worker_step(ctx, case_id, event, raw)
        await repository.ensure_case(ctx, case_id)
        repository.defer_timeline(ctx, event_id=event.id, case_id=case_id, type=event.type, source=event.source,
                                  at=event.time, summary=summary, data=raw,
                                  trace_id=tracing.trace_id((event.model_extra or {}).get("traceparent")))
        if event.type.startswith("deadline."):
            await _deadline(ctx, case_id, event, d)
        elif event.type == "followup.flagged":
            await alerts.raise_alert(ctx, kind=d["reason"], case_id=case_id,
                                     deadline_id=f"flag-{case_id}-{d['reason']}", deadline_kind=None,
                                     org_unit=await repository.case_unit(conn, case_id), at=event.time,
                                     detail={"satisfaction": d.get("satisfaction"), "comment": d.get("comment", "")})
        elif event.type in APPLY:
            await APPLY[event.type](conn, case_id, event, d)

    def _worker_step(ctx: HandlerContext, case_id: str, event: CloudEvent, raw: dict[str, Any]) -> None:
        """The worker's view (进度查询): the step written for them, whether they may rate, the unit serving them —
        order-insensitive upserts nothing in the batch reads, deferred to the batch's end."""
        shown = worker_steps.step(event.type, raw, names)
        if shown is None:
            return
        at = event.time.astimezone(UTC)
        ctx.defer(repository.PUBLIC_STEP, case_id, {"id": str(event.id), "at": at.isoformat(timespec="microseconds"),
                                                     "title": shown.title, "status": shown.status,
                                                     "rank": worker_steps.ORDER.index(event.type)})
        if shown.resolved is not None:
            ctx.defer(repository.PUBLIC_RESOLVED, case_id, shown.resolved, event.time)
        if raw.get("org_unit") and event.type in ("intake.case_dispatched", "intake.case_answered"):
            ctx.defer(repository.PUBLIC_UNIT, case_id, raw["org_unit"])

    async def _deadline(ctx: HandlerContext, case_id: str, event: CloudEvent, d: dict[str, Any]) -> None:
        """A service's clock changed: the case's copy follows, and the alerts follow its newest state."""
        conn = ctx.conn
        signal = event.type.split(".", 1)[1]
        at = d["at"]
        state = d["state"]
        newest = await repository.upsert_deadline(
            conn, deadline_id=d["deadline_id"], case_id=case_id, kind=d["kind"], owner=d["owner"], state=state,
            due_at=d["due_at"], org_unit=d.get("org_unit"), provisional=d.get("provisional", False),
            on_time=d.get("on_time"), changed_at=at)
        if d["kind"] == "tier":
            await repository.follow_tier_deadline(conn, case_id)
            if signal == "met":
                await set_case(conn, case_id, on_time=d.get("on_time"))
        if not newest:
            return  # an older event about this deadline: alerts follow the newest state only
        unit = d.get("org_unit") or await repository.case_unit(conn, case_id)
        if signal == "warning":
            await alerts.raise_alert(ctx, kind="warning", case_id=case_id, deadline_id=d["deadline_id"],
                                     deadline_kind=d["kind"], org_unit=unit, at=at, due_at=d["due_at"])
        elif signal == "breached":
            await alerts.resolve(ctx, deadline_id=d["deadline_id"], at=at, kinds=("warning",))
            alert = await alerts.raise_alert(ctx, kind="overdue", case_id=case_id, deadline_id=d["deadline_id"],
                                             deadline_kind=d["kind"], org_unit=unit, at=at, due_at=d["due_at"])
            if alert is not None:  # the breach happened at the due time, whenever it was noticed
                await alerts.start_escalation(ctx.deadlines, alert, breach_at=d["due_at"], calendar=ctx.calendar,
                                              hierarchy=hierarchy)
        elif signal in ("met", "cancelled") or (signal in ("extended", "resumed") and state == "open"):
            for alert in await repository.open_overdue_alerts(conn, d["deadline_id"]):
                await alerts.stop_escalation(ctx.deadlines, alert, at=at, reason="期限已完成或调整")
            await alerts.resolve(ctx, deadline_id=d["deadline_id"], at=at)

    async def _duplicate(ctx: HandlerContext, d: dict[str, Any]) -> None:
        """A possible duplicate across scopes: those who may see both cases are told both; where nobody may (two
        provinces), each side's province is told of its own case and that the other province has one."""
        mine, theirs = d.get("org_unit"), d.get("other_org_unit")
        common = hierarchy.common_ancestor(mine, theirs) if mine and theirs else None
        if common is not None:
            await alerts.raise_alert(ctx, kind="duplicate", case_id=d["case_id"], deadline_id=f"duplicate-{d['case_id']}",
                                     deadline_kind=None, org_unit=common, at=d["detected_at"],
                                     detail={"other_case_id": d["other_case_id"], "reason": d["reason"]})
            return
        for case_id, unit, other in ((d["case_id"], mine, theirs), (d["other_case_id"], theirs, mine)):
            root = hierarchy.root(unit) if unit else None
            other_root = hierarchy.root(other) if other else None
            await alerts.raise_alert(ctx, kind="duplicate", case_id=case_id,
                                     deadline_id=f"duplicate-{d['case_id']}-{case_id}", deadline_kind=None,
                                     org_unit=root.code if root else None, at=d["detected_at"],
                                     detail={"reason": d["reason"], "other_province": other_root.name if other_root
                                             else None})

    # the plain-text query code is for the notification service alone (it is not on a topic read here either)
    return {t: project for t in EVENTS if not t.startswith(("supervision.", "auth.")) and t != "intake.query_code_issued"}

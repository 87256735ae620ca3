"""The supervisors' board: alerts raised from deadline events, escalated up the hierarchy, acknowledged.

Each change publishes ``supervision.alert_*`` with the unit of work and wakes the live boards (NOTIFY).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import Histogram

from events.supervision import AlertChanged
from services.backbone.consumer import HandlerContext
from services.backbone.deadline_store import DeadlineStore
from services.backbone.errors import Conflict
from services.calendar.model import WorkCalendar
from services.hierarchy.orgunits import Hierarchy
from services.supervision import repository
from services.supervision.domain.escalation import next_escalation
from services.supervision.models import Alert

TOPIC = "supervision.events"
BOARD_CHANNEL = "supervision_board"
ALERT_LATENCY = Histogram(
    "laborcase_alert_latency_seconds", "From a deadline's due time to its overdue alert on the board",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300))


def _publish(ctx: HandlerContext, change: str, alert: Alert, at: datetime, *, actor: str | None = None,
             note: str | None = None) -> None:
    data = AlertChanged(alert_id=alert.alert_id, case_id=alert.case_id, kind=alert.kind, org_unit=alert.org_unit,
                        escalated_to=alert.escalated_to, level=alert.level, at=at, actor=actor, note=note,
                        deadline_kind=alert.deadline_kind)
    ctx.publish(f"supervision.alert_{change}", data, subject=alert.case_id or f"alert-{alert.alert_id}", time=at,
                topic=TOPIC)


async def raise_alert(ctx: HandlerContext, *, kind: str, case_id: str | None, deadline_id: str | None,
                      deadline_kind: str | None, org_unit: str | None, at: datetime,
                      due_at: datetime | None = None, detail: dict[str, Any] | None = None) -> Alert | None:
    """A new alert on the board of ``org_unit``; None when the same one is already open."""
    alert = await repository.raise_alert(ctx.conn, kind=kind, case_id=case_id, deadline_id=deadline_id,
                                         deadline_kind=deadline_kind, org_unit=org_unit, due_at=due_at,
                                         breach_at=at if kind == "overdue" else None, detail=detail or {})
    if alert is not None:
        _publish(ctx, "raised", alert, at)
        await repository.notify(ctx.conn, BOARD_CHANNEL)
        if kind == "overdue" and due_at is not None:
            ALERT_LATENCY.observe(max((alert.raised_at - due_at).total_seconds(), 0))
    return alert


async def resolve(ctx: HandlerContext, *, deadline_id: str, at: datetime,
                  kinds: tuple[str, ...] = ("warning", "overdue")) -> list[int]:
    """The deadline's open alerts of these kinds are resolved; returns their ids."""
    resolved = await repository.resolve_alerts(ctx.conn, deadline_id=deadline_id, at=at, kinds=kinds)
    for alert in resolved:
        _publish(ctx, "resolved", alert, at)
    if resolved:
        await repository.notify(ctx.conn, BOARD_CHANNEL)
    return [a.alert_id for a in resolved]


#: supervision's own clocks that escalate alerts: ``escalate:<alert id>:<level>``
ESCALATION_PREFIX = "escalate:"


def escalation_kind(alert_id: int, level: int | str) -> str:
    """The kind of the clock that escalates an alert from ``level`` (supervision's own deadlines)."""
    return f"{ESCALATION_PREFIX}{alert_id}:{level}"


async def escalation_clock(store: DeadlineStore, *, case_id: str, alert_id: int, level: int | str,
                           started_at: datetime, due_at: datetime, org_unit: str | None) -> None:
    """Start the clock that sends the alert from ``level`` to the parent unit when it runs out."""
    await store.start(case_id=case_id, kind=escalation_kind(alert_id, level), started_at=started_at, due_at=due_at,
                      org_unit=org_unit, attributes={"alert_id": alert_id}, reason="超期一个工作日仍未办结则升级督办")


async def start_escalation(store: DeadlineStore, alert: Alert, *, breach_at: datetime, calendar: WorkCalendar,
                           hierarchy: Hierarchy) -> None:
    """If the case is still open one working day later, the alert goes to the parent unit."""
    if alert.escalated_to is None or hierarchy.parent(alert.escalated_to) is None:
        return
    await escalation_clock(store, case_id=alert.case_id, alert_id=alert.alert_id, level=alert.level,
                           started_at=breach_at, due_at=next_escalation(breach_at, calendar),
                           org_unit=alert.escalated_to)


async def stop_escalation(store: DeadlineStore, alert: Alert, *, at: datetime, reason: str) -> None:
    await store.cancel(case_id=alert.case_id, kind=escalation_kind(alert.alert_id, alert.level), at=at,
                       actor=None, reason=reason)


async def escalate(ctx: HandlerContext, *, alert_id: int, at: datetime, hierarchy: Hierarchy) -> Alert | None:
    """``at``: when the escalation takes effect (one working day after the breach); ``ctx.now``: business time.

    Nothing happens to an alert no longer open, or already at the top of the hierarchy."""
    alert = await repository.lock_alert(ctx.conn, alert_id)
    if alert is None or alert.state != "open":
        return None
    parent = hierarchy.parent(alert.escalated_to) if alert.escalated_to else None
    if parent is None:
        return None
    alert = await repository.escalate_alert(ctx.conn, alert_id, to=parent.code)
    _publish(ctx, "escalated", alert, at)
    await repository.notify(ctx.conn, BOARD_CHANNEL)
    await start_escalation(ctx.deadlines, alert, breach_at=at, calendar=ctx.calendar, hierarchy=hierarchy)
    return alert


async def acknowledge(ctx: HandlerContext, *, alert_id: int, actor: str, note: str) -> Alert:
    """A supervisor has taken the alert in hand (at ``ctx.now``): its escalation stops.

    Conflict when it is not open (acknowledged or resolved meanwhile)."""
    alert = await repository.acknowledge_alert(ctx.conn, alert_id, actor=actor, note=note, at=ctx.now)
    if alert is None:
        raise Conflict("该督办提醒不存在或已确认、已解除")
    _publish(ctx, "acknowledged", alert, ctx.now, actor=actor, note=note)
    await repository.notify(ctx.conn, BOARD_CHANNEL)
    if alert.kind == "overdue" and alert.case_id:
        await stop_escalation(ctx.deadlines, alert, at=ctx.now, reason=f"{actor} 已确认督办：{note}")
    return alert


async def escalate_now(ctx: HandlerContext, *, alert_id: int, actor: str, note: str, hierarchy: Hierarchy) -> Alert:
    """A supervisor reports an alert to the unit above at once (报上级督办) instead of waiting a working day: its
    escalation clock stops at this level and starts again at the next.

    Conflict when the alert is resolved, or already at the top of the hierarchy."""
    alert = await repository.lock_alert(ctx.conn, alert_id)
    if alert is None or alert.state == "resolved":
        raise Conflict("该督办提醒不存在或已解除")
    parent = hierarchy.parent(alert.escalated_to) if alert.escalated_to else None
    if parent is None:
        raise Conflict("已在最高一级督办，不能再上报")
    if alert.kind == "overdue" and alert.case_id:
        await stop_escalation(ctx.deadlines, alert, at=ctx.now, reason=f"{actor} 报上级督办：{note}")
    alert = await repository.escalate_alert(ctx.conn, alert_id, to=parent.code)
    _publish(ctx, "escalated", alert, ctx.now, actor=actor, note=note)
    await repository.notify(ctx.conn, BOARD_CHANNEL)
    if alert.kind == "overdue" and alert.case_id and alert.state == "open":
        await start_escalation(ctx.deadlines, alert, breach_at=ctx.now, calendar=ctx.calendar, hierarchy=hierarchy)
    return alert

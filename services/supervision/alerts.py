"""The supervisors' board: alerts raised from deadline events, escalated up the hierarchy, acknowledged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Histogram

from events.envelope import new_event
from events.supervision import AlertChanged
from services.backbone.deadline_store import DeadlineStore
from services.backbone.outbox import Record, record_of
from services.calendar.model import WorkCalendar
from services.hierarchy.orgunits import Hierarchy
from services.supervision.domain.escalation import next_escalation

TOPIC = "supervision.events"
BOARD_CHANNEL = "supervision_board"
ALERT_LATENCY = Histogram(
    "laborcase_alert_latency_seconds", "From a deadline's due time to its overdue alert on the board",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300))


def _change(row: asyncpg.Record, at: datetime, *, actor: str | None = None, note: str | None = None) -> AlertChanged:
    return AlertChanged(alert_id=row["alert_id"], case_id=row["case_id"], kind=row["kind"], org_unit=row["org_unit"],
                        escalated_to=row["escalated_to"], level=row["level"], at=at, actor=actor, note=note,
                        deadline_kind=row["deadline_kind"])


def _event(change: str, row: asyncpg.Record, at: datetime, records: list[Record], **kw: Any) -> None:
    event = new_event(f"supervision.alert_{change}", source="laborcase/supervision", data=_change(row, at, **kw),
                      subject=row["case_id"] or f"alert-{row['alert_id']}", time=at)
    records.append(record_of(event, topic=TOPIC))


async def notify(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", BOARD_CHANNEL)


async def raise_alert(conn: asyncpg.Connection, records: list[Record], *, kind: str, case_id: str | None,
                      deadline_id: str | None, deadline_kind: str | None, org_unit: str | None, at: datetime,
                      due_at: datetime | None = None, detail: dict[str, Any] | None = None) -> asyncpg.Record | None:
    row = await conn.fetchrow(
        "INSERT INTO alerts (case_id, deadline_id, deadline_kind, kind, state, org_unit, escalated_to, due_at, "
        "breach_at, detail) VALUES ($1, $2, $3, $4, 'open', $5, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *",
        case_id, deadline_id, deadline_kind, kind, org_unit, due_at, at if kind == "overdue" else None, detail or {})
    if row is not None:
        _event("raised", row, at, records)
        await notify(conn)
        if kind == "overdue" and due_at is not None:
            ALERT_LATENCY.observe(max((row["raised_at"] - due_at).total_seconds(), 0))
    return row


async def resolve(conn: asyncpg.Connection, records: list[Record], *, deadline_id: str, at: datetime,
                  kinds: tuple[str, ...] = ("warning", "overdue")) -> list[int]:
    rows = await conn.fetch(
        "UPDATE alerts SET state = 'resolved', resolved_at = $2, updated_at = now() "
        "WHERE deadline_id = $1 AND kind = ANY($3::text[]) AND state <> 'resolved' RETURNING *",
        deadline_id, at, list(kinds))
    for row in rows:
        _event("resolved", row, at, records)
    if rows:
        await notify(conn)
    return [r["alert_id"] for r in rows]


async def start_escalation(store: DeadlineStore, row: asyncpg.Record, *, breach_at: datetime,
                           calendar: WorkCalendar, hierarchy: Hierarchy) -> None:
    """If the case is still open one working day later, the alert goes to the parent unit."""
    if row["escalated_to"] is None or hierarchy.parent(row["escalated_to"]) is None:
        return
    due_at = next_escalation(breach_at, calendar)
    await store.start(case_id=row["case_id"], kind=f"escalate:{row['alert_id']}:{row['level']}", started_at=breach_at,
                      due_at=due_at, org_unit=row["escalated_to"],
                      attributes={"alert_id": row["alert_id"]}, reason="超期一个工作日仍未办结则升级督办")


async def stop_escalation(store: DeadlineStore, row: asyncpg.Record, *, at: datetime, reason: str) -> None:
    await store.cancel(case_id=row["case_id"], kind=f"escalate:{row['alert_id']}:{row['level']}", at=at,
                       actor=None, reason=reason)


async def escalate(conn: asyncpg.Connection, records: list[Record], *, alert_id: int, at: datetime, now: datetime,
                   calendar: WorkCalendar, hierarchy: Hierarchy) -> asyncpg.Record | None:
    """``at``: when the escalation takes effect (one working day after the breach); ``now``: business time."""
    row = await conn.fetchrow("SELECT * FROM alerts WHERE alert_id = $1 FOR UPDATE", alert_id)
    if row is None or row["state"] != "open":
        return None
    parent = hierarchy.parent(row["escalated_to"]) if row["escalated_to"] else None
    if parent is None:
        return None
    row = await conn.fetchrow("UPDATE alerts SET escalated_to = $2, level = level + 1, updated_at = now() "
                              "WHERE alert_id = $1 RETURNING *", alert_id, parent.code)
    _event("escalated", row, at, records)
    await notify(conn)
    store = DeadlineStore(conn, owner="supervision", topic=TOPIC, emit=records.append, now=now)
    await start_escalation(store, row, breach_at=at, calendar=calendar, hierarchy=hierarchy)
    return row


async def acknowledge(conn: asyncpg.Connection, records: list[Record], *, alert_id: int, actor: str, note: str,
                      at: datetime) -> asyncpg.Record | None:
    row = await conn.fetchrow(
        "UPDATE alerts SET state = 'acknowledged', acknowledged_by = $2, ack_note = $3, acknowledged_at = $4, "
        "updated_at = now() WHERE alert_id = $1 AND state = 'open' RETURNING *", alert_id, actor, note, at)
    if row is None:
        return None
    _event("acknowledged", row, at, records, actor=actor, note=note)
    await notify(conn)
    if row["kind"] == "overdue" and row["case_id"]:
        store = DeadlineStore(conn, owner="supervision", topic=TOPIC, emit=records.append, now=at)
        await stop_escalation(store, row, at=at, reason=f"{actor} 已确认督办：{note}")
    return row

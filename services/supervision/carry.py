"""What a rebuild keeps of the projection it replaces: the supervisors' own work on the board, and which events
the live service held parked.

The topics supervision consumes say when an alert is raised and resolved; they do not say what supervisors did
with it (acknowledged it, 报上级督办 at once) nor how far supervision's own escalation clocks had taken it. Before the
rebuild empties the projection, those are kept aside (``keep``: two tables, made once — a rebuild interrupted and
run again keeps the first copy); when the replay is done they are put back on the alerts the replay raised again
(``restore``), matched by what stays the same across a replay: the deadline, the alert's kind, its due and breach
times. Each matched alert gets back its acknowledgement, its level and the unit it had reached, and its escalation
clock as it stood (the replay's own clock for it is cancelled). Nothing is published: the live service announced
all of it when it happened. Alerts without a deadline (calendar, duplicates, low satisfaction) are not matched.
"""

from __future__ import annotations

import asyncpg

from services.backbone.consumer import EventProcessor
from services.supervision.alerts import escalation_clock, escalation_kind

#: the board's human and clock-made state of every deadline alert that has any
KEEP_ALERTS = (
    "CREATE TABLE IF NOT EXISTS rebuild_kept_alerts AS SELECT alert_id, deadline_id, kind, due_at, breach_at, state, "
    "level, escalated_to, acknowledged_by, ack_note, acknowledged_at FROM alerts "
    "WHERE deadline_id IS NOT NULL AND (level > 0 OR acknowledged_by IS NOT NULL)")
#: supervision's escalation clocks still running (``escalate:<alert id>:<level>``)
KEEP_TIMERS = (
    "CREATE TABLE IF NOT EXISTS rebuild_kept_timers AS SELECT case_id, kind, started_at, due_at, org_unit, "
    "(attributes->>'alert_id')::bigint AS alert_id FROM deadlines "
    "WHERE owner = 'supervision' AND kind LIKE 'escalate:%' AND state IN ('open', 'paused')")
#: the events the live service held parked: applied by nobody, so the replay publishes what they cause (emptied with
#: the projection, so kept for a rebuild run again, or resumed, after an interruption)
KEEP_PARKED = "CREATE TABLE IF NOT EXISTS rebuild_kept_parked AS SELECT event_id FROM parked"
KEPT_PARKED_IDS = "SELECT event_id FROM rebuild_kept_parked"
LIVE_PARKED = "SELECT event_id FROM parked"
KEPT_PARKED = "SELECT to_regclass('rebuild_kept_parked') IS NOT NULL"
KEPT = "SELECT to_regclass('rebuild_kept_alerts') IS NOT NULL AND to_regclass('rebuild_kept_timers') IS NOT NULL"
#: each kept alert and the alert the replay raised again for it (the newest, should there be several)
PAIRS = (
    "SELECT k.*, a.alert_id AS new_id, a.case_id, a.state AS new_state FROM rebuild_kept_alerts k "
    "JOIN LATERAL (SELECT alert_id, case_id, state FROM alerts a WHERE a.deadline_id = k.deadline_id "
    "AND a.kind = k.kind AND a.due_at IS NOT DISTINCT FROM k.due_at AND a.breach_at IS NOT DISTINCT FROM k.breach_at "
    "ORDER BY a.alert_id DESC LIMIT 1) a ON true")
PUT_BACK = (
    "UPDATE alerts SET level = $2, escalated_to = $3, acknowledged_by = $4, ack_note = $5, acknowledged_at = $6, "
    "state = CASE WHEN state = 'open' AND $7 = 'acknowledged' THEN 'acknowledged' ELSE state END, "
    "updated_at = now() WHERE alert_id = $1")
REPLAYED_TIMERS = (
    "SELECT kind FROM deadlines WHERE owner = 'supervision' AND case_id = $1 AND kind LIKE $2 "
    "AND state IN ('open', 'paused', 'breached')")
KEPT_TIMERS = "SELECT * FROM rebuild_kept_timers WHERE alert_id = $1"
FORGET = "DROP TABLE IF EXISTS rebuild_kept_alerts, rebuild_kept_timers, rebuild_kept_parked"


async def keep(conn: asyncpg.Connection) -> None:
    """Set the board's own state aside, and the events parked (in the transaction that empties the projection)."""
    await conn.execute(KEEP_ALERTS)
    await conn.execute(KEEP_TIMERS)
    await conn.execute(KEEP_PARKED)


async def parked(conn: asyncpg.Connection | asyncpg.Pool) -> set[str]:
    """The events the live service held parked when the rebuild began: as kept by the first attempt of a rebuild
    run again or resumed, else as the service holds them now."""
    kept = await conn.fetchval(KEPT_PARKED)
    return {str(r["event_id"]) for r in await conn.fetch(KEPT_PARKED_IDS if kept else LIVE_PARKED)}


async def restore(pool: asyncpg.Pool, processor: EventProcessor) -> int:
    """Put the kept state back on the replayed alerts, then forget it; returns how many alerts got it back."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(KEPT):
            return 0
        ctx = processor.context(conn)
        store = ctx.deadlines  # its records (deadline events) are never enqueued: nothing is published
        pairs = await conn.fetch(PAIRS)
        for p in pairs:
            await conn.execute(PUT_BACK, p["new_id"], p["level"], p["escalated_to"], p["acknowledged_by"],
                               p["ack_note"], p["acknowledged_at"], p["state"])
            if p["new_state"] == "resolved" or p["case_id"] is None:
                continue
            for timer in await conn.fetch(REPLAYED_TIMERS, p["case_id"], escalation_kind(p["new_id"], "%")):
                await store.cancel(case_id=p["case_id"], kind=timer["kind"], at=ctx.now, actor=None,
                                   reason="重建：沿用重建前的督办升级进度")
            for kept in await conn.fetch(KEPT_TIMERS, p["alert_id"]):
                await escalation_clock(store, case_id=kept["case_id"], alert_id=p["new_id"],
                                       level=kept["kind"].rsplit(":", 1)[-1], started_at=kept["started_at"],
                                       due_at=kept["due_at"], org_unit=kept["org_unit"])
        await conn.execute(FORGET)
        return len(pairs)
